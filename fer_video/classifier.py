"""Batched inference on face crops: probabilities and embeddings from a loaded CNN."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from fer_video.checkpoint import (
    load_checkpoint,
    model_from_checkpoint,
    preprocess_config,
)
from fer_video.constants import CLASSES
from fer_video.device import resolve_device
from fer_video.transforms import EvalPreprocess, PreprocessConfig, crops_to_tensor


@torch.inference_mode()
def predict_logits_and_features(
    model: nn.Module,
    crops: np.ndarray | torch.Tensor,
    preprocess: PreprocessConfig,
    device: torch.device,
    batch_size: int = 256,
    flip_tta: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (N, C) and embeddings (N, D) on the CPU for uint8 crops (N, H, W[, 3])."""
    normalise = EvalPreprocess(preprocess)
    logits, features = [], []
    for start in range(0, len(crops), batch_size):
        batch = normalise(crops_to_tensor(crops[start : start + batch_size]).to(device))
        emb = model.forward_features(batch)
        out = model.forward_head(emb)
        if flip_tta:
            flipped = model.forward_features(batch.flip(-1))
            out = (out + model.forward_head(flipped)) / 2
            emb = (emb + flipped) / 2
        logits.append(out.float().cpu())
        features.append(emb.float().cpu())
    if not logits:
        return torch.zeros(0, len(CLASSES)), torch.zeros(0, getattr(model, "num_features", 0))
    return torch.cat(logits), torch.cat(features)


class CropClassifier:
    """A loaded emotion CNN plus its preprocessing contract; classifies face crops."""

    def __init__(self, model: nn.Module, meta: dict[str, Any], device: torch.device, flip_tta: bool = False) -> None:
        self.model = model.to(device).eval()
        self.meta = meta
        self.device = device
        self.preprocess = preprocess_config(meta)
        self.classes: tuple[str, ...] = tuple(meta["classes"])
        self.flip_tta = flip_tta

    @classmethod
    def from_file(cls, path: str, device: str | torch.device = "auto", flip_tta: bool = False) -> "CropClassifier":
        resolved = resolve_device(device)
        model, meta = model_from_checkpoint(load_checkpoint(path, map_location=resolved), device=resolved)
        return cls(model, meta, resolved, flip_tta=flip_tta)

    @property
    def embedding_dim(self) -> int:
        return int(self.model.num_features)

    def predict(self, crops: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities (N, C) and embeddings (N, D) as float32 numpy arrays."""
        logits, features = predict_logits_and_features(
            self.model, crops, self.preprocess, self.device, batch_size, self.flip_tta
        )
        return logits.softmax(dim=1).numpy(), features.numpy()

    def predict_proba(self, crops: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Probabilities (N, C) for uint8 crops (N, H, W) gray or (N, H, W, 3) RGB."""
        return self.predict(crops, batch_size)[0]
