"""The ONNX Runtime backend: the exported CNN (fp32 or int8) run by an ``InferenceSession``."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from fer_video.backends.session import open_session
from fer_video.export.onnx import CNN_INPUTS, CNN_OUTPUTS


class OnnxBackend:
    """Runs an exported emotion CNN (see :func:`fer_video.export.export_classifier`)."""

    def __init__(self, path: str | os.PathLike, device: torch.device | None = None, threads: int | None = None) -> None:
        self.path = path
        self.session, self.metadata = open_session(path, "classifier", device, threads)
        self.name = "onnx-int8" if self.metadata.get("precision") == "int8" else "onnx"
        self.device = torch.device("cpu")  # inputs are handed over as numpy arrays

    @property
    def embedding_dim(self) -> int:
        return int(self.metadata["embedding_dim"])

    @property
    def checkpoint_meta(self) -> dict[str, Any]:
        """The fields of a checkpoint's ``meta`` the classifier needs (classes, preprocessing, model,
        and the softmax temperature when the checkpoint was calibrated)."""
        meta = {key: self.metadata[key] for key in ("model", "classes", "preprocess")}
        if self.metadata.get("temperature") is not None:
            meta["temperature"] = self.metadata["temperature"]
        return meta

    def __call__(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feed = {CNN_INPUTS[0]: np.ascontiguousarray(batch.detach().cpu().numpy(), dtype=np.float32)}
        logits, embeddings = self.session.run(list(CNN_OUTPUTS), feed)
        return torch.from_numpy(logits), torch.from_numpy(embeddings)
