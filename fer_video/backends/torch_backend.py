"""The PyTorch backend: the model's own ``forward_features`` and ``forward_head``."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class TorchBackend:
    """Runs an ``nn.Module`` (with ``forward_features``/``forward_head``) on ``device``."""

    name = "torch"

    def __init__(self, model: nn.Module, device: torch.device) -> None:
        self.model = model
        self.device = device

    @property
    def embedding_dim(self) -> int:
        return int(self.model.num_features)

    @torch.inference_mode()
    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        embeddings = self.model.forward_features(torch.from_numpy(batch).to(self.device))
        logits = self.model.forward_head(embeddings)
        return logits.float().cpu().numpy(), embeddings.float().cpu().numpy()
