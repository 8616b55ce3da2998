"""Temporal pseudo-labels for unlabelled video crops.

On real clips the two-sided ``hmm`` smoother (``fer-video video --smoothing hmm``) is far more often
right than the CNN frame by frame (``results/real_video/``): it lets the frames of an expression
outvote the few the CNN misreads. Its posteriors over the crops of an unlabelled clip, from the
teacher's calibrated probabilities, are therefore better soft targets for those crops than the
teacher's own answers: the student learns, on each frame, what the smoothed track says there.
"""

from __future__ import annotations

import numpy as np
import torch

from fer_video.probabilities import calibrated_softmax
from fer_video.temporal.hmm import FILE_HMM, HmmSettings, fixed_lag_posteriors

#: Posteriors below this are raised to it before the log: the targets stay finite.
_FLOOR = 1e-4


def hmm_soft_targets(
    teacher_logits: torch.Tensor,
    clip: np.ndarray,
    frame: np.ndarray,
    fps: float,
    teacher_temperature: float,
    distill_temperature: float,
    settings: HmmSettings = FILE_HMM,
) -> torch.Tensor:
    """Soft targets (N, C) for N crops of unlabelled clips from the teacher's logits on them.

    Each clip's crops (``clip`` gives the clip, ``frame`` the frame index) are taken in frame order,
    ``1 / fps`` seconds apart (frames without a face are skipped), and the teacher's probabilities
    (softmax of ``teacher_logits / teacher_temperature``, its calibrated temperature) are smoothed
    by the two-sided HMM of ``settings``. The posteriors are returned as logits at the distillation
    temperature (``distill_temperature * log p``), so that the distillation loss's
    ``softmax(z / T)`` gives them back."""
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    if not len(teacher_logits) == len(clip) == len(frame):
        raise ValueError("teacher_logits, clip and frame must have one row per crop")
    probs = calibrated_softmax(teacher_logits.float().numpy(), teacher_temperature)
    posteriors = np.empty_like(probs)
    for index in np.unique(clip):
        rows = np.flatnonzero(clip == index)
        rows = rows[np.argsort(frame[rows], kind="stable")]
        posteriors[rows] = fixed_lag_posteriors(probs[rows], np.ones(len(rows), bool), settings, 1.0 / fps)
    return distill_temperature * torch.from_numpy(posteriors).clamp_min(_FLOOR).log()
