"""The CNN's input contract and the evaluation preprocessing of face crops, in NumPy.

:class:`PreprocessConfig` travels with the weights (``meta["preprocess"]``); :func:`normalise_crops`
turns uint8 crops into the normalised batch every backend takes. It does what
:class:`fer_video.transforms.EvalPreprocess` does to :func:`fer_video.transforms.crops_to_tensor`'s
output, without importing PyTorch for crops already at the input size (the aligner's, the video
path's); crops of another size are resized by the same antialiased bilinear resampling, PyTorch's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from fer_video.constants import FER_IMAGE_SIZE

#: ITU-R 601 luma weights of R, G, B, the grayscale conversion of every stage.
LUMA_WEIGHTS = np.asarray([0.299, 0.587, 0.114], np.float32)


@dataclass(frozen=True)
class PreprocessConfig:
    """The input contract that travels with the weights."""

    input_size: int = FER_IMAGE_SIZE
    mean: float = 0.5
    std: float = 0.25

    def to_dict(self) -> dict:
        return asdict(self)


def preprocess_config(meta: dict[str, Any]) -> PreprocessConfig:
    """The input contract stored in a checkpoint's (or an export's) metadata."""
    return PreprocessConfig(**meta["preprocess"])


def crops_to_array(crops: np.ndarray) -> np.ndarray:
    """uint8 (or float in [0, 1]) crops (N, H, W) gray or (N, H, W, 3) RGB -> float32 (N, 1, H, W) in [0, 1]."""
    batch = np.asarray(crops)
    scale = 255.0 if batch.dtype == np.uint8 else 1.0
    if batch.ndim == 2:
        batch = batch[None]
    batch = batch.astype(np.float32)
    if batch.ndim == 4 and batch.shape[-1] in (3, 4):
        batch = batch[..., :3] @ LUMA_WEIGHTS
    if batch.ndim != 3:
        raise ValueError(f"expected crops of shape (N, H, W) or (N, H, W, 3), got {tuple(batch.shape)}")
    return (batch / np.float32(scale))[:, None]


def normalise_crops(crops: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """The normalised float32 batch (N, 1, S, S) a backend takes, for uint8 crops (N, H, W[, 3])."""
    batch = crops_to_array(crops)
    size = config.input_size
    if batch.shape[-2:] != (size, size):
        batch = _resize(batch, size)
    return np.ascontiguousarray((batch - np.float32(config.mean)) / np.float32(config.std), dtype=np.float32)


def _resize(batch: np.ndarray, size: int) -> np.ndarray:
    """Antialiased bilinear resize of (N, 1, H, W) to (N, 1, size, size), as training's evaluation saw it."""
    import torch
    import torch.nn.functional as F

    tensor = torch.from_numpy(np.ascontiguousarray(batch))
    resized = F.interpolate(tensor, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return resized.numpy()

