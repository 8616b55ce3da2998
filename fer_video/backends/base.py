"""What every inference backend provides."""

from __future__ import annotations

from typing import Protocol

import torch


class InferenceBackend(Protocol):
    """Runs the emotion CNN on normalised batches."""

    #: ``torch``, ``onnx`` or ``onnx-int8``.
    name: str
    #: Where input batches must be (preprocessing runs there too).
    device: torch.device
    #: Length of each embedding.
    embedding_dim: int

    def __call__(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, C) and embeddings (B, D), float32 on the CPU, for a normalised batch (B, 1, S, S)."""
        ...
