"""What every inference backend provides."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class InferenceBackend(Protocol):
    """Runs the emotion CNN on normalised batches."""

    #: ``torch``, ``onnx`` or ``onnx-int8``.
    name: str
    #: Length of each embedding.
    embedding_dim: int

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logits (B, C) and embeddings (B, D), float32, for a normalised float32 batch (B, 1, S, S)."""
        ...
