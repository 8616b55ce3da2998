"""Preprocessing and batched augmentation for grayscale face crops.

Everything works on whole batches of tensors (B, 1, H, W) so augmentation costs a few
vectorised ops per batch, never a Python loop per image; the video and photo degradations it
draws (blur, noise, JPEG, ...) are in :mod:`fer_video.degradations`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fer_video import degradations
from fer_video.preprocess import PreprocessConfig, crops_to_array

if TYPE_CHECKING:
    from torchvision.transforms import v2


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
    # Stronger geometry: shear (degrees) and a projective tilt (max of the homography's bottom row).
    shear_deg: float = 0.0
    perspective: float = 0.0
    # Crop framing as the detector + aligner make it (fer_video.faces.align): a FER2013 crop is
    # taken as margin 0; with framing_prob the margin (fraction of the side added on each side) is
    # drawn from [framing_margin_min, framing_margin_max] and the centre moves by up to
    # framing_shift of the side, as MTCNN boxes jitter around a face.
    framing_prob: float = 0.0
    framing_margin_min: float = -0.15
    framing_margin_max: float = 0.15
    framing_shift: float = 0.06
    # Video and photo degradations (fer_video.degradations); each *_prob is per sample, 0 = off.
    # Pixel sizes are at the model's input size.
    occlusion_prob: float = 0.0  # a hand-like ellipse or a glasses/scarf-like bar
    occlusion_max_area: float = 0.2  # fraction of the crop
    gamma_prob: float = 0.0
    gamma_max: float = 1.8  # exponent drawn log-uniformly in [1/gamma_max, gamma_max]
    motion_blur_prob: float = 0.0
    motion_blur_max_length: float = 7.0  # pixels, drawn in [2, max]
    defocus_prob: float = 0.0
    defocus_max_radius: float = 2.0  # pixels, drawn in [0.75, max]
    downscale_prob: float = 0.0
    downscale_min_scale: float = 0.3  # shrunk to [min_scale, 1] x the side, then enlarged back
    noise_prob: float = 0.0
    noise_max_std: float = 0.08  # drawn in [0.01, max]
    jpeg_prob: float = 0.0
    jpeg_quality_min: int = 15
    jpeg_quality_max: int = 90
    video_prob: float = 0.0  # codec-like blocks: low-quality JPEG on a shrunk copy
    video_quality_min: int = 10
    video_quality_max: int = 40
    video_min_scale: float = 0.33  # the copy's side: a multiple of 8 pixels in [min_scale, 1] x the side


def crops_to_tensor(crops: np.ndarray) -> torch.Tensor:
    """uint8 crops (N, H, W) gray or (N, H, W, 3) RGB -> float tensor (N, 1, H, W) in [0, 1]
    (:func:`fer_video.preprocess.crops_to_array`)."""
    return torch.from_numpy(crops_to_array(crops))


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
    """Per-sample random geometry (framing, rotate, scale, shift, shear, perspective, flip),
    occlusion, brightness/contrast and gamma, blur, resolution loss, noise, JPEG and codec
    blocks, and random erasing, done for the whole batch at once (see :class:`AugmentConfig`);
    then normalisation. The order follows a camera: scene and pose, optics, sensor, encoder."""

    def __init__(self, augment: AugmentConfig, preprocess: PreprocessConfig = PreprocessConfig()) -> None:
        super().__init__()
        self.augment = augment
        self.normalise = EvalPreprocess(preprocess)

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        batch = self._geometry(batch)
        batch = self._occlude(batch)
        batch = self._jitter(batch)
        batch = self._degrade(batch)
        batch = self._erase(batch)
        return self.normalise(batch)

    def _uniform(self, n: int, bound: float, device: torch.device) -> torch.Tensor:
        return (torch.rand(n, device=device) * 2 - 1) * bound

    def _between(self, n: int, low: float, high: float, device: torch.device) -> torch.Tensor:
        return low + torch.rand(n, device=device) * (high - low)

    def _chosen(self, n: int, prob: float, device: torch.device) -> torch.Tensor | None:
        """Which samples an augmentation of probability ``prob`` applies to; None when it is off
        (it then draws nothing, so turning one on leaves the others' random draws unchanged)."""
        if prob <= 0:
            return None
        chosen = torch.rand(n, device=device) < prob
        return chosen if bool(chosen.any()) else None

    def _geometry(self, batch: torch.Tensor) -> torch.Tensor:
        """One resampling for the whole geometric chain: output pixel -> framing o affine o shear
        o perspective -> input pixel (normalised coordinates, as ``affine_grid``)."""
        cfg, n, device = self.augment, batch.shape[0], batch.device
        angle = self._uniform(n, math.radians(cfg.rotation_deg), device)
        scale = 1 + self._uniform(n, cfg.scale, device)
        flip = torch.where(torch.rand(n, device=device) < cfg.flip_prob, -1.0, 1.0)
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        zero, one = torch.zeros(n, device=device), torch.ones(n, device=device)
        matrix = torch.stack(
            [
                torch.stack([cos * flip, -sin, self._uniform(n, 2 * cfg.translate, device)], dim=1),
                torch.stack([sin * flip, cos, self._uniform(n, 2 * cfg.translate, device)], dim=1),
                torch.stack([zero, zero, one], dim=1),
            ],
            dim=1,
        )
        if cfg.shear_deg > 0:
            shear = torch.eye(3, device=device).repeat(n, 1, 1)
            shear[:, 0, 1] = torch.tan(self._uniform(n, math.radians(cfg.shear_deg), device))
            matrix = matrix @ shear
        if cfg.perspective > 0:
            tilt = torch.eye(3, device=device).repeat(n, 1, 1)
            tilt[:, 2, 0] = self._uniform(n, cfg.perspective, device)
            tilt[:, 2, 1] = self._uniform(n, cfg.perspective, device)
            matrix = matrix @ tilt
        framed = self._chosen(n, cfg.framing_prob, device)
        if framed is not None:
            side = 1 + 2 * self._between(n, cfg.framing_margin_min, cfg.framing_margin_max, device)
            shift = self._uniform(2 * n, 2 * cfg.framing_shift, device).view(n, 2)
            framing = torch.eye(3, device=device).repeat(n, 1, 1)
            framing[framed, 0, 0], framing[framed, 1, 1] = side[framed], side[framed]
            framing[framed, :2, 2] = shift[framed]
            matrix = framing @ matrix
        grid = _sampling_grid(matrix, batch.shape)
        return F.grid_sample(batch, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def _occlude(self, batch: torch.Tensor) -> torch.Tensor:
        cfg, n, device = self.augment, batch.shape[0], batch.device
        chosen = self._chosen(n, cfg.occlusion_prob, device)
        if chosen is None:
            return batch
        is_bar = torch.rand(n, device=device) < 0.5
        area = 4 * self._between(n, 0.03, max(cfg.occlusion_max_area, 0.03), device)  # the crop spans 4 units
        aspect = torch.exp(self._uniform(n, math.log(2.0), device))
        bar_length = self._between(n, 0.5, 1.2, device)  # half-length: from half to more than the crop
        ellipse_axes = torch.stack([torch.sqrt(area * aspect / math.pi), torch.sqrt(area / (aspect * math.pi))], 1)
        bar_axes = torch.stack([bar_length, area / (4 * bar_length)], 1)
        half_axes = torch.where(is_bar.view(n, 1), bar_axes, ellipse_axes)
        centre = torch.stack([self._uniform(n, 0.6, device), self._uniform(n, 0.7, device)], 1)
        angle = torch.where(is_bar, self._uniform(n, 0.4, device), torch.rand(n, device=device) * math.pi)
        masks = degradations.occlusion_masks(tuple(batch.shape), centre, half_axes, angle, is_bar)
        masks = masks * chosen.view(n, 1, 1, 1)
        return degradations.occlude(batch, masks, torch.rand(n, device=device))

    def _degrade(self, batch: torch.Tensor) -> torch.Tensor:
        """Gamma, motion and defocus blur, resolution loss, noise, JPEG, codec blocks: each on its
        own random share of the batch with a random strength."""
        cfg, n, device = self.augment, batch.shape[0], batch.device
        side = max(batch.shape[-2:])
        if (chosen := self._chosen(n, cfg.gamma_prob, device)) is not None:
            exponent = torch.exp(self._uniform(n, math.log(max(cfg.gamma_max, 1.0)), device))
            batch = _apply(batch, chosen, degradations.gamma, exponent)
        if (chosen := self._chosen(n, cfg.motion_blur_prob, device)) is not None:
            length = self._between(n, 2.0, max(cfg.motion_blur_max_length, 2.0), device)
            angle = torch.rand(n, device=device) * math.pi
            batch = _apply(batch, chosen, degradations.motion_blur, length, angle)
        if (chosen := self._chosen(n, cfg.defocus_prob, device)) is not None:
            radius = self._between(n, 0.75, max(cfg.defocus_max_radius, 0.75), device)
            batch = _apply(batch, chosen, degradations.defocus_blur, radius)
        if (chosen := self._chosen(n, cfg.downscale_prob, device)) is not None:
            shrunk = torch.round(self._between(n, cfg.downscale_min_scale, 1.0, device) * side / 2) * 2
            batch = _apply(batch, chosen, degradations.downscale, shrunk.clamp(2, side - 2).long())
        if (chosen := self._chosen(n, cfg.noise_prob, device)) is not None:
            std = self._between(n, 0.01, max(cfg.noise_max_std, 0.01), device)
            batch = _apply(batch, chosen, degradations.gaussian_noise, std)
        if (chosen := self._chosen(n, cfg.jpeg_prob, device)) is not None:
            quality = torch.randint(cfg.jpeg_quality_min, cfg.jpeg_quality_max + 1, (n,), device=device)
            batch = _apply(batch, chosen, degradations.jpeg_compress, quality)
        if (chosen := self._chosen(n, cfg.video_prob, device)) is not None:
            low = max(1, math.ceil(cfg.video_min_scale * side / 8))
            high = max(low, side // 8)
            copy_side = torch.randint(low, high + 1, (n,), device=device) * 8
            quality = torch.randint(cfg.video_quality_min, cfg.video_quality_max + 1, (n,), device=device)
            batch = _apply(batch, chosen, degradations.blocky_compress, copy_side, quality)
        return batch

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


def _sampling_grid(matrix: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """``grid_sample`` grid (N, H, W, 2) for projective maps (N, 3, 3) from output to input
    coordinates in [-1, 1] (pixel centres, ``align_corners=False``)."""
    n, _, h, w = shape
    ys = (torch.arange(h, device=matrix.device, dtype=matrix.dtype) * 2 + 1) / h - 1
    xs = (torch.arange(w, device=matrix.device, dtype=matrix.dtype) * 2 + 1) / w - 1
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    points = torch.stack([x, y, torch.ones_like(x)], dim=-1).reshape(1, h * w, 3)
    mapped = points @ matrix.transpose(1, 2)
    return (mapped[..., :2] / mapped[..., 2:].clamp(min=1e-3)).reshape(n, h, w, 2)


def _apply(
    batch: torch.Tensor, chosen: torch.Tensor, function: Callable[..., torch.Tensor], *strengths: torch.Tensor
) -> torch.Tensor:
    """``function(samples, *strengths)`` on the ``chosen`` samples only; the others pass through."""
    out = batch.clone()
    out[chosen] = function(batch[chosen], *(strength[chosen] for strength in strengths))
    return out


def build_mix(augment: AugmentConfig, num_classes: int) -> v2.Transform | None:
    """MixUp / CutMix on a batch (soft labels out), or None when both are off."""
    from torchvision.transforms import v2  # (torchvision takes seconds to import: only for training)

    choices: list[v2.Transform] = []
    if augment.mixup_alpha > 0:
        choices.append(v2.MixUp(alpha=augment.mixup_alpha, num_classes=num_classes))
    if augment.cutmix_alpha > 0:
        choices.append(v2.CutMix(alpha=augment.cutmix_alpha, num_classes=num_classes))
    if not choices or augment.mix_prob <= 0:
        return None
    return v2.RandomApply([v2.RandomChoice(choices)], p=augment.mix_prob)
