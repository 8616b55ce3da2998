"""Batched inference on face crops: probabilities and embeddings from a loaded CNN.

A checkpoint whose ``meta["temperature"]`` is set (``fer-video calibrate``) gives calibrated
probabilities ``softmax(logits / T)`` whatever backend runs it; without it, ``softmax(logits)``.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fer_video.backends import InferenceBackend, OnnxBackend, TorchBackend, onnx_runs_on, resolve_backend
from fer_video.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint, preprocess_config
from fer_video.constants import CLASSES
from fer_video.device import resolve_device
from fer_video.export.cache import classifier_onnx
from fer_video.transforms import EvalPreprocess, PreprocessConfig, crops_to_tensor

logger = logging.getLogger(__name__)


@torch.inference_mode()
def backend_logits_and_features(
    backend: InferenceBackend,
    crops: np.ndarray | torch.Tensor,
    preprocess: PreprocessConfig,
    batch_size: int = 256,
    flip_tta: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (N, C) and embeddings (N, D) on the CPU for uint8 crops (N, H, W[, 3]), run by ``backend``."""
    normalise = EvalPreprocess(preprocess)
    logits, features = [], []
    for start in range(0, len(crops), batch_size):
        batch = normalise(crops_to_tensor(crops[start : start + batch_size]).to(backend.device))
        out, emb = backend(batch)
        if flip_tta:
            flipped_out, flipped_emb = backend(batch.flip(-1))
            out, emb = (out + flipped_out) / 2, (emb + flipped_emb) / 2
        logits.append(out)
        features.append(emb)
    if not logits:
        return torch.zeros(0, len(CLASSES)), torch.zeros(0, backend.embedding_dim)
    return torch.cat(logits), torch.cat(features)


def predict_logits_and_features(
    model: nn.Module,
    crops: np.ndarray | torch.Tensor,
    preprocess: PreprocessConfig,
    device: torch.device,
    batch_size: int = 256,
    flip_tta: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`backend_logits_and_features` with the PyTorch ``model`` on ``device``."""
    return backend_logits_and_features(TorchBackend(model, device), crops, preprocess, batch_size, flip_tta)


def checkpoint_temperature(meta: dict[str, Any]) -> float | None:
    """The softmax temperature a checkpoint's ``meta`` carries (``None``: uncalibrated)."""
    value = meta.get("temperature")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise CheckpointError(f"the checkpoint's temperature must be a positive number, got {value!r}")
    return float(value)


def calibrated_softmax(logits: torch.Tensor, temperature: float | None) -> torch.Tensor:
    """``softmax(logits / temperature)`` over the last axis; plain softmax when ``temperature`` is ``None``."""
    return (logits if temperature is None else logits / temperature).softmax(dim=-1)


class CropClassifier:
    """A loaded emotion CNN plus its preprocessing contract; classifies face crops.

    ``backend`` runs the CNN (default: PyTorch on ``device``); ``model`` is the PyTorch module,
    ``None`` when the classifier was loaded from an exported ``.onnx`` file. ``temperature``
    (from ``meta``) scales the logits before the softmax; ``backend_reason`` says why ``auto``
    chose the backend it did (empty when it was asked for by name).
    """

    def __init__(
        self,
        model: nn.Module | None,
        meta: dict[str, Any],
        device: torch.device,
        flip_tta: bool = False,
        backend: InferenceBackend | None = None,
        backend_reason: str = "",
    ) -> None:
        if model is None and backend is None:
            raise ValueError("a CropClassifier needs a model or a backend")
        self._model = model.to(device).eval() if model is not None else None
        self.backend: InferenceBackend = backend or TorchBackend(self._model, device)
        self.meta = meta
        self.device = device
        self.preprocess = preprocess_config(meta)
        self.classes: tuple[str, ...] = tuple(meta["classes"])
        self.temperature = checkpoint_temperature(meta)
        self.flip_tta = flip_tta
        self.backend_reason = backend_reason

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike,
        device: str | torch.device = "auto",
        flip_tta: bool = False,
        backend: str = "auto",
        threads: int | None = None,
    ) -> CropClassifier:
        """Load a ``.pt`` checkpoint, or a ``.onnx`` file made by ``fer-video export``.

        ``backend``: ``auto`` (on the CPU: ONNX Runtime when installed, int8 where
        :func:`fer_video.backends.auto.choose_cpu_backend` finds it as accurate and faster, else
        fp32; else PyTorch), ``torch``, ``onnx`` or ``onnx-int8`` (see :mod:`fer_video.backends`);
        the ONNX graphs are exported from the checkpoint on first use and cached. ``threads``:
        ONNX Runtime intra-op threads.
        """
        resolved = resolve_device(device)
        if Path(path).suffix.lower() == ".onnx":
            return cls._from_onnx(path, backend, resolved, flip_tta, threads)
        kind = resolve_backend(backend, resolved)
        model, meta = model_from_checkpoint(load_checkpoint(path, map_location=resolved), device=resolved)
        checkpoint_temperature(meta)  # a bad temperature fails before any export
        reason = ""
        if kind != "torch":
            try:
                onnx_path = classifier_onnx(path, model, meta, int8=kind == "onnx-int8")
                if backend == "auto":
                    from fer_video.backends.auto import choose_cpu_backend

                    choice = choose_cpu_backend(path, model, meta, onnx_path, threads)
                    onnx_path, reason = choice.path, choice.reason
            except PermissionError as error:  # no writable cache for the export
                if backend != "auto":
                    raise
                logger.warning("running the emotion CNN with PyTorch: %s", error)
            else:
                runtime = OnnxBackend(onnx_path, resolved, threads)
                return cls(model, meta, resolved, flip_tta=flip_tta, backend=runtime, backend_reason=reason)
        return cls(model, meta, resolved, flip_tta=flip_tta)

    @classmethod
    def _from_onnx(
        cls, path: str | os.PathLike, backend: str, device: torch.device, flip_tta: bool, threads: int | None
    ) -> CropClassifier:
        """An exported file runs in ONNX Runtime whatever ``auto`` would pick (on the CPU when this
        onnxruntime build cannot use ``device``); its own precision decides ``onnx`` vs ``onnx-int8``."""
        if backend == "torch":
            raise ValueError(f"{path} is an ONNX file: use --backend onnx (or auto), or pass the .pt checkpoint")
        resolve_backend(backend, device)  # a clear error for an unknown name or a missing onnxruntime
        runtime = OnnxBackend(path, device if backend != "auto" or onnx_runs_on(device) else None, threads)
        if backend not in ("auto", runtime.name):
            raise ValueError(
                f"{path} was exported for {runtime.name}, not {backend}; use --backend {runtime.name} or auto"
            )
        return cls(None, runtime.checkpoint_meta, device, flip_tta=flip_tta, backend=runtime)

    @property
    def model(self) -> nn.Module:
        """The PyTorch module (for ten-crop TTA, training tools and the like)."""
        if self._model is None:
            raise ValueError("this classifier was loaded from an ONNX file and has no PyTorch model; use the .pt file")
        return self._model

    @property
    def backend_name(self) -> str:
        """``torch``, ``onnx`` or ``onnx-int8``."""
        return self.backend.name

    @property
    def embedding_dim(self) -> int:
        return self.backend.embedding_dim

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """This CNN's class probabilities for its ``logits``: softmax at its temperature."""
        return calibrated_softmax(logits, self.temperature)

    def predict(self, crops: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities (N, C) (calibrated when the checkpoint has a temperature) and embeddings
        (N, D) as float32 numpy arrays."""
        logits, features = backend_logits_and_features(self.backend, crops, self.preprocess, batch_size, self.flip_tta)
        return self.probabilities(logits).numpy(), features.numpy()

    def predict_proba(self, crops: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Probabilities (N, C) for uint8 crops (N, H, W) gray or (N, H, W, 3) RGB."""
        return self.predict(crops, batch_size)[0]
