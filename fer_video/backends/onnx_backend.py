"""The ONNX Runtime backend: the exported CNN (fp32 or int8) run by an ``InferenceSession``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from fer_video.backends.session import open_session
from fer_video.export.format import CNN_INPUTS, CNN_OUTPUTS, checkpoint_fields

if TYPE_CHECKING:
    import torch


class OnnxBackend:
    """Runs an exported emotion CNN (see :func:`fer_video.export.export_classifier`)."""

    def __init__(
        self, path: str | os.PathLike, device: str | torch.device | None = None, threads: int | None = None
    ) -> None:
        self.path = path
        self.session, self.metadata = open_session(path, "classifier", device, threads)
        self.name = "onnx-int8" if self.metadata.get("precision") == "int8" else "onnx"

    @property
    def embedding_dim(self) -> int:
        return int(self.metadata["embedding_dim"])

    @property
    def checkpoint_meta(self) -> dict[str, Any]:
        """The fields of the checkpoint's ``meta`` the export carries (see :func:`checkpoint_fields`)."""
        return checkpoint_fields(self.metadata)

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        feed = {CNN_INPUTS[0]: np.ascontiguousarray(batch, dtype=np.float32)}
        logits, embeddings = self.session.run(list(CNN_OUTPUTS), feed)
        return logits, embeddings
