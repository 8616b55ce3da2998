"""Temporal pseudo-labels: the two-sided HMM's posteriors over unlabelled clips as soft targets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fer_video.constants import CLASSES
from fer_video.temporal.hmm import FILE_HMM, fixed_lag_posteriors
from fer_video.train.config import TrainConfig
from fer_video.train.pseudo_labels import hmm_soft_targets

HAPPY, ANGRY, SAD = CLASSES.index("happy"), CLASSES.index("angry"), CLASSES.index("sad")


def _logits(tops: list[int], margin: float = 2.0) -> torch.Tensor:
    """Teacher logits whose top class per crop is ``tops``, ``margin`` above the others."""
    logits = torch.zeros(len(tops), len(CLASSES))
    logits[torch.arange(len(tops)), torch.tensor(tops)] = margin
    return logits


def test_a_frame_the_teacher_misreads_gets_its_clip_label():
    tops = [HAPPY] * 10 + [ANGRY] + [HAPPY] * 10
    logits = _logits(tops)
    targets = hmm_soft_targets(logits, np.zeros(21, int), np.arange(21), fps=10, teacher_temperature=1.0,
                               distill_temperature=2.0)
    assert targets.shape == logits.shape and targets.dtype == torch.float32 and torch.isfinite(targets).all()
    assert logits[10].argmax() == ANGRY and targets[10].argmax() == HAPPY
    assert (targets.argmax(dim=1) == HAPPY).all()


def test_the_targets_give_back_the_posteriors_at_the_distillation_temperature():
    torch.manual_seed(0)
    logits = torch.randn(30, len(CLASSES)) * 2
    targets = hmm_soft_targets(logits, np.zeros(30, int), np.arange(30), fps=20, teacher_temperature=0.9,
                               distill_temperature=2.0)
    expected = fixed_lag_posteriors((logits / 0.9).softmax(1).numpy(), np.ones(30, bool), FILE_HMM, 1 / 20)
    torch.testing.assert_close((targets / 2.0).softmax(dim=1), torch.from_numpy(expected), atol=1e-3, rtol=0)


def test_clips_are_smoothed_apart_and_in_frame_order():
    # two clips of 12 crops each (happy, then sad), interleaved and each in scrambled frame order
    first, second = _logits([HAPPY] * 12), _logits([SAD] * 12)
    rng = np.random.default_rng(0)
    order = rng.permutation(24)
    logits = torch.cat([first, second])[order]
    clip = np.repeat([0, 1], 12)[order]
    frame = np.concatenate([np.arange(12) * 3, np.arange(12) * 3])[order]
    targets = hmm_soft_targets(logits, clip, frame, fps=10, teacher_temperature=1.0, distill_temperature=1.0)
    alone = hmm_soft_targets(first, np.zeros(12, int), np.arange(12) * 3, fps=10, teacher_temperature=1.0,
                             distill_temperature=1.0)
    torch.testing.assert_close(targets[np.flatnonzero(clip == 0)[np.argsort(frame[clip == 0])]], alone)
    assert (targets.argmax(dim=1).numpy() == np.where(clip == 0, HAPPY, SAD)).all()


def test_bad_arguments_are_refused():
    logits = _logits([HAPPY] * 3)
    with pytest.raises(ValueError, match="fps"):
        hmm_soft_targets(logits, np.zeros(3, int), np.arange(3), fps=0, teacher_temperature=1.0,
                         distill_temperature=2.0)
    with pytest.raises(ValueError, match="one row per crop"):
        hmm_soft_targets(logits, np.zeros(2, int), np.arange(3), fps=10, teacher_temperature=1.0,
                         distill_temperature=2.0)


def test_the_recipe_checks_its_unlabelled_targets():
    base = {"unlabelled_videos": ["clips/"], "teacher": "t.pt"}
    assert TrainConfig.from_dict(base).unlabelled_targets == "teacher"
    assert TrainConfig.from_dict({**base, "unlabelled_targets": "hmm"}).unlabelled_targets == "hmm"
    with pytest.raises(ValueError, match="unlabelled_targets must be one of"):
        TrainConfig.from_dict({**base, "unlabelled_targets": "labels"})
    with pytest.raises(ValueError, match="none are given"):
        TrainConfig.from_dict({"teacher": "t.pt", "unlabelled_targets": "hmm"})
    with pytest.raises(ValueError, match="cached logits"):
        TrainConfig.from_dict({**base, "unlabelled_targets": "hmm", "distill_consistent": True})
