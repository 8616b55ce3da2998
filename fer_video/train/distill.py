"""Knowledge distillation: a small student learns from a trained teacher's soft predictions.

The teacher's logits on every (clean) training image are computed once, averaged over the image
and its mirror image, and cached (``<cache>/distill/``, keyed by the teacher file and each block of images);
an ensemble teacher (several checkpoints) gives the mean of its members' logits. The student
trains on augmented views against
``(1 - alpha) * cross-entropy(labels) + alpha * T^2 * KL(teacher_T || student_T)`` (Hinton et al., 2015),
where ``_T`` means softmax at temperature ``T``.

With ``distill_consistent`` the teacher (:class:`TeacherEnsemble`) instead scores, at every step,
the very augmented batch the student sees, so that the student matches the teacher's function on
blurred, re-framed and mixed faces too, not only on the clean training images ("consistent
teaching": Beyer et al., 2022, *Knowledge distillation: A good teacher is patient and consistent*).
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
from fer_video.preprocess import PreprocessConfig, preprocess_config
from fer_video.classifier import checkpoint_temperature, predict_logits_and_features


#: The label of a training crop without one (a face from unlabelled video): it is learned from the
#: teacher's soft targets alone.
UNLABELLED = -1


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
        return (1 - self.alpha) * self._hard_loss(logits, target) + self.alpha * t * t * soft

    def _hard_loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy over the crops with a label (:data:`UNLABELLED` ones have none)."""
        if target.ndim == 1 and (target == UNLABELLED).any():  # mixed (soft) targets always have labels
            labelled = target != UNLABELLED
            return self.hard(logits[labelled], target[labelled]) if labelled.any() else logits.sum() * 0.0
        return self.hard(logits, target)


def teacher_logits(
    teacher: str | os.PathLike | Sequence[str | os.PathLike],
    images: np.ndarray | Sequence[np.ndarray],
    device: torch.device,
) -> torch.Tensor:
    """The teacher's flip-averaged logits (N, C) on uint8 ``images`` (N, H, W); with several teacher
    checkpoints (an ensemble), the mean of their logits. ``images`` may come in blocks (the Training
    images, then video crops), concatenated in order: each teacher's logits are computed once per
    (teacher file, block) and then read from the cache, so a new block leaves the others' reused."""
    blocks = [images] if isinstance(images, np.ndarray) else [block for block in images if len(block)]
    paths = teacher_paths(teacher)
    per_teacher = [torch.cat([_single_teacher_logits(path, block, device) for block in blocks]) for path in paths]
    return torch.stack(per_teacher).mean(dim=0)


def teacher_paths(teacher: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str | os.PathLike]:
    """The teacher checkpoint file(s) as a non-empty list of existing files (a clear error otherwise)."""
    paths = [teacher] if isinstance(teacher, (str, os.PathLike)) else list(teacher)
    if not paths:
        raise ValueError("distillation needs at least one teacher checkpoint")
    missing = [path for path in paths if not os.path.isfile(path)]
    if missing:
        raise CheckpointError(f"teacher checkpoint not found: {missing[0]}")
    return paths


def teacher_temperature(teacher: str | os.PathLike | Sequence[str | os.PathLike]) -> float:
    """The temperature that calibrates the teacher's logits (``fer-video calibrate``; 1 for an
    uncalibrated checkpoint); for an ensemble, the mean of its members'."""
    temperatures = [checkpoint_temperature(load_checkpoint(path)["meta"]) for path in teacher_paths(teacher)]
    return float(np.mean([1.0 if value is None else value for value in temperatures]))


def _single_teacher_logits(teacher_path: str | os.PathLike, images: np.ndarray, device: torch.device) -> torch.Tensor:
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


class TeacherEnsemble(nn.Module):
    """Frozen teacher checkpoint(s) in eval mode; ``forward`` gives the mean of their logits."""

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("distillation needs at least one teacher checkpoint")
        self.members = nn.ModuleList(members).eval().requires_grad_(False)

    def train(self, mode: bool = True) -> TeacherEnsemble:
        return super().train(False)  # a teacher always keeps its BatchNorm statistics and no dropout

    @torch.no_grad()
    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(batch).float() for member in self.members]).mean(dim=0)


def load_teacher(
    teacher: str | os.PathLike | Sequence[str | os.PathLike],
    preprocess: PreprocessConfig,
    device: torch.device,
    channels_last: bool = False,
) -> TeacherEnsemble:
    """The teacher checkpoint(s) as one frozen module on ``device``; each must take the student's
    ``preprocess`` (the batch is normalised once, for both)."""
    members = []
    for path in teacher_paths(teacher):
        model, meta = model_from_checkpoint(load_checkpoint(path), device)
        if preprocess_config(meta) != preprocess:
            raise ValueError(
                f"teacher {path} takes {preprocess_config(meta)}, the student {preprocess}: consistent "
                "distillation needs one preprocessing"
            )
        members.append(model.to(memory_format=torch.channels_last) if channels_last else model)
    return TeacherEnsemble(members)
