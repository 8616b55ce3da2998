"""Knowledge distillation: a small student learns from a trained teacher's soft predictions.

The teacher's logits on every (clean) training image are computed once, averaged over the image
and its mirror image, and cached (``<cache>/distill/``, keyed by the teacher file and the images);
an ensemble teacher (several checkpoints) gives the mean of its members' logits. The student
trains on augmented views against
``(1 - alpha) * cross-entropy(labels) + alpha * T^2 * KL(teacher_T || student_T)`` (Hinton et al., 2015),
where ``_T`` means softmax at temperature ``T``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fer_video.cache import cache_dir
from fer_video.checkpoint import CheckpointError, file_sha256, load_checkpoint, model_from_checkpoint
from fer_video.preprocess import preprocess_config
from fer_video.classifier import predict_logits_and_features


class DistillationLoss(nn.Module):
    """Cross-entropy on the labels blended with the KL divergence to the teacher's soft targets."""

    def __init__(
        self, alpha: float, temperature: float, label_smoothing: float = 0.0, weight: torch.Tensor | None = None
    ) -> None:
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"distill_alpha must be in [0, 1], got {alpha}")
        if temperature <= 0:
            raise ValueError(f"distill_temperature must be > 0, got {temperature}")
        self.alpha, self.temperature = alpha, temperature
        self.hard = nn.CrossEntropyLoss(weight=weight, label_smoothing=label_smoothing)

    def forward(self, logits: torch.Tensor, target: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        t = self.temperature
        soft = F.kl_div(
            F.log_softmax(logits / t, dim=1), F.log_softmax(teacher_logits / t, dim=1), reduction="batchmean",
            log_target=True,
        )
        return (1 - self.alpha) * self.hard(logits, target) + self.alpha * t * t * soft


def teacher_logits(
    teacher: str | os.PathLike | Sequence[str | os.PathLike], images: np.ndarray, device: torch.device
) -> torch.Tensor:
    """The teacher's flip-averaged logits (N, C) on uint8 ``images`` (N, H, W); with several teacher
    checkpoints (an ensemble), the mean of their logits. Each teacher's are computed once per
    (teacher file, images) and then read from the cache."""
    paths = [teacher] if isinstance(teacher, (str, os.PathLike)) else list(teacher)
    if not paths:
        raise ValueError("distillation needs at least one teacher checkpoint")
    return torch.stack([_single_teacher_logits(path, images, device) for path in paths]).mean(dim=0)


def _single_teacher_logits(teacher_path: str | os.PathLike, images: np.ndarray, device: torch.device) -> torch.Tensor:
    if not os.path.isfile(teacher_path):
        raise CheckpointError(f"teacher checkpoint not found: {teacher_path}")
    key = hashlib.sha256(f"{file_sha256(teacher_path)}:".encode() + np.ascontiguousarray(images).data).hexdigest()
    cache_path = cache_dir() / "distill" / f"{key[:32]}.pt"
    if cache_path.is_file():
        return torch.load(cache_path, weights_only=True)["logits"]
    model, meta = model_from_checkpoint(load_checkpoint(teacher_path), device)
    progress = f"teacher logits ({Path(teacher_path).name})"
    logits, _ = predict_logits_and_features(
        model, images, preprocess_config(meta), device, flip_tta=True, progress=progress
    )
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    partial = cache_path.with_name(f".{cache_path.name}.{os.getpid()}.tmp")
    torch.save({"teacher": str(teacher_path), "logits": logits}, partial)
    partial.replace(cache_path)
    return logits
