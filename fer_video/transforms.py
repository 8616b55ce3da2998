"""Preprocessing and batched augmentation for grayscale face crops.

Everything works on whole batches of tensors (B, 1, H, W) so augmentation costs a few
vectorised ops per batch, never a Python loop per image.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.transforms import v2

from fer_video.constants import FER_IMAGE_SIZE


@dataclass(frozen=True)
class PreprocessConfig:
    """The input contract that travels with the weights."""

    input_size: int = FER_IMAGE_SIZE
    mean: float = 0.5
    std: float = 0.25

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class AugmentConfig:
    """Strength of each training augmentation (0 disables it)."""

    rotation_deg: float = 10.0
    scale: float = 0.1
    translate: float = 0.1
    flip_prob: float = 0.5
    brightness: float = 0.2
    contrast: float = 0.2
    erasing_prob: float = 0.25
    erasing_max_area: float = 0.15
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    mix_prob: float = 0.0


def crops_to_tensor(crops: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 crops (N, H, W) gray or (N, H, W, 3) RGB -> float tensor (N, 1, H, W) in [0, 1]."""
    batch = torch.as_tensor(np.ascontiguousarray(crops) if isinstance(crops, np.ndarray) else crops)
    scale = 255.0 if batch.dtype == torch.uint8 else 1.0
    if batch.ndim == 2:
        batch = batch[None]
    batch = batch.float()
    if batch.ndim == 4 and batch.shape[-1] in (3, 4):
        batch = batch[..., :3] @ torch.tensor([0.299, 0.587, 0.114])
    if batch.ndim != 3:
        raise ValueError(f"expected crops of shape (N, H, W) or (N, H, W, 3), got {tuple(batch.shape)}")
    return (batch / scale).unsqueeze(1)


class EvalPreprocess(nn.Module):
    """Resize to the model's input size and normalise."""

    def __init__(self, config: PreprocessConfig = PreprocessConfig()) -> None:
        super().__init__()
        self.config = config

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        size = self.config.input_size
        if batch.shape[-2:] != (size, size):
            batch = F.interpolate(batch, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        return (batch - self.config.mean) / self.config.std


class TrainAugment(nn.Module):
    """Per-sample random affine (rotate, scale, shift, flip), brightness/contrast jitter and
    random erasing, done for the whole batch at once; then normalisation."""

    def __init__(self, augment: AugmentConfig, preprocess: PreprocessConfig = PreprocessConfig()) -> None:
        super().__init__()
        self.augment = augment
        self.normalise = EvalPreprocess(preprocess)

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        batch = self._affine(batch)
        batch = self._jitter(batch)
        batch = self._erase(batch)
        return self.normalise(batch)

    def _uniform(self, n: int, bound: float, device: torch.device) -> torch.Tensor:
        return (torch.rand(n, device=device) * 2 - 1) * bound

    def _affine(self, batch: torch.Tensor) -> torch.Tensor:
        cfg, n, device = self.augment, batch.shape[0], batch.device
        angle = self._uniform(n, math.radians(cfg.rotation_deg), device)
        scale = 1 + self._uniform(n, cfg.scale, device)
        flip = torch.where(torch.rand(n, device=device) < cfg.flip_prob, -1.0, 1.0)
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        theta = torch.stack(
            [
                torch.stack([cos * flip, -sin, self._uniform(n, 2 * cfg.translate, device)], dim=1),
                torch.stack([sin * flip, cos, self._uniform(n, 2 * cfg.translate, device)], dim=1),
            ],
            dim=1,
        )
        grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
        return F.grid_sample(batch, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def _jitter(self, batch: torch.Tensor) -> torch.Tensor:
        cfg, n, device = self.augment, batch.shape[0], batch.device
        contrast = 1 + self._uniform(n, cfg.contrast, device).view(n, 1, 1, 1)
        brightness = self._uniform(n, cfg.brightness, device).view(n, 1, 1, 1)
        mean = batch.mean(dim=(1, 2, 3), keepdim=True)
        return ((batch - mean) * contrast + mean + brightness).clamp(0, 1)

    def _erase(self, batch: torch.Tensor) -> torch.Tensor:
        cfg = self.augment
        if cfg.erasing_prob <= 0:
            return batch
        n, _, h, w = batch.shape
        device = batch.device
        area = torch.empty(n, device=device).uniform_(0.02, cfg.erasing_max_area)
        aspect = torch.exp(torch.empty(n, device=device).uniform_(math.log(0.3), math.log(3.3)))
        eh = (torch.sqrt(area * aspect) * h).clamp(1, h)
        ew = (torch.sqrt(area / aspect) * w).clamp(1, w)
        top = torch.rand(n, device=device) * (h - eh)
        left = torch.rand(n, device=device) * (w - ew)
        rows = torch.arange(h, device=device).view(1, h, 1)
        cols = torch.arange(w, device=device).view(1, 1, w)
        inside = (
            (rows >= top.view(n, 1, 1))
            & (rows < (top + eh).view(n, 1, 1))
            & (cols >= left.view(n, 1, 1))
            & (cols < (left + ew).view(n, 1, 1))
        )
        chosen = (torch.rand(n, device=device) < cfg.erasing_prob).view(n, 1, 1)
        mask = (inside & chosen).unsqueeze(1)
        return torch.where(mask, torch.rand_like(batch), batch)


def build_mix(augment: AugmentConfig, num_classes: int) -> v2.Transform | None:
    """MixUp / CutMix on a batch (soft labels out), or None when both are off."""
    choices: list[v2.Transform] = []
    if augment.mixup_alpha > 0:
        choices.append(v2.MixUp(alpha=augment.mixup_alpha, num_classes=num_classes))
    if augment.cutmix_alpha > 0:
        choices.append(v2.CutMix(alpha=augment.cutmix_alpha, num_classes=num_classes))
    if not choices or augment.mix_prob <= 0:
        return None
    return v2.RandomApply([v2.RandomChoice(choices)], p=augment.mix_prob)
