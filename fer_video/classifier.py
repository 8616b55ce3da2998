"""Batched inference on face crops: probabilities and embeddings from a loaded CNN.

A checkpoint whose ``meta["temperature"]`` is set (``fer-video calibrate``) gives calibrated
probabilities ``softmax(logits / T)`` whatever backend runs it; without it, ``softmax(logits)``.
On the CPU with ONNX Runtime, a checkpoint already exported to the cache is run without loading
PyTorch at all: the export carries the metadata the classifier needs, and the PyTorch module is
built only when something asks for :attr:`CropClassifier.model`.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fer_video.backends.selection import onnx_runs_on, resolve_backend
from fer_video.checkpoint import CheckpointError, file_sha256
from fer_video.constants import CLASSES
from fer_video.device import resolve_device_name
from fer_video.preprocess import PreprocessConfig, normalise_crops, preprocess_config
from fer_video.probabilities import calibrated_softmax

if TYPE_CHECKING:
    import torch
    from torch import nn

    from fer_video.backends.base import InferenceBackend

logger = logging.getLogger(__name__)


def backend_logits_and_features(
    backend: InferenceBackend,
    crops: np.ndarray,
    preprocess: PreprocessConfig,
    batch_size: int = 256,
    flip_tta: bool = False,
    progress: str = "",
) -> tuple[np.ndarray, np.ndarray]:
    """Logits (N, C) and embeddings (N, D), float32, for uint8 crops (N, H, W[, 3]), run by ``backend``;
    ``progress``: the description of a progress bar over the batches (none when empty)."""
    logits, features = [], []
    starts: Iterable[int] = range(0, len(crops), batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=progress, unit="batch")
    for start in starts:
        batch = normalise_crops(crops[start : start + batch_size], preprocess)
        out, emb = backend(batch)
        if flip_tta:
            flipped_out, flipped_emb = backend(np.ascontiguousarray(batch[..., ::-1]))
            out, emb = (out + flipped_out) / 2, (emb + flipped_emb) / 2
        logits.append(out)
        features.append(emb)
    if not logits:
        return np.zeros((0, len(CLASSES)), np.float32), np.zeros((0, backend.embedding_dim), np.float32)
    return np.concatenate(logits), np.concatenate(features)


def predict_logits_and_features(
    model: nn.Module,
    crops: np.ndarray,
    preprocess: PreprocessConfig,
    device: torch.device,
    batch_size: int = 256,
    flip_tta: bool = False,
    progress: str = "",
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`backend_logits_and_features` with the PyTorch ``model`` on ``device``, as CPU tensors."""
    import torch

    from fer_video.backends.torch_backend import TorchBackend

    logits, features = backend_logits_and_features(
        TorchBackend(model, device), crops, preprocess, batch_size, flip_tta, progress
    )
    return torch.from_numpy(logits), torch.from_numpy(features)


def checkpoint_temperature(meta: dict[str, Any]) -> float | None:
    """The softmax temperature a checkpoint's ``meta`` carries (``None``: uncalibrated)."""
    value = meta.get("temperature")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise CheckpointError(f"the checkpoint's temperature must be a positive number, got {value!r}")
    return float(value)


class CropClassifier:
    """A loaded emotion CNN plus its preprocessing contract; classifies face crops.

    ``backend`` runs the CNN (default: PyTorch on ``device``); ``model`` is the PyTorch module
    (``None``: built from ``source``, the ``.pt`` file, when first asked for; unavailable when the
    classifier came from an exported ``.onnx`` file). ``temperature`` (from ``meta``) scales the
    logits before the softmax; ``backend_reason`` says why ``auto`` chose the backend it did
    (empty when it was asked for by name).
    """

    def __init__(
        self,
        model: nn.Module | None,
        meta: dict[str, Any],
        device: str | torch.device,
        flip_tta: bool = False,
        backend: InferenceBackend | None = None,
        backend_reason: str = "",
        source: str | os.PathLike | None = None,
    ) -> None:
        if model is None and backend is None:
            raise ValueError("a CropClassifier needs a model or a backend")
        self.device_name = str(device)
        self._model = model.to(self.device_name).eval() if model is not None else None
        self._source = source
        if backend is None:
            from fer_video.backends.torch_backend import TorchBackend

            backend = TorchBackend(self._model, self.device)
        self.backend: InferenceBackend = backend
        self.meta = meta
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
        resolved = resolve_device_name(device)
        if Path(path).suffix.lower() == ".onnx":
            return cls._from_onnx(path, backend, resolved, flip_tta, threads)
        kind = resolve_backend(backend, resolved)
        if kind != "torch":
            try:
                onnx_path, reason = _onnx_graph(path, kind, backend == "auto", threads)
            except PermissionError as error:  # no writable cache for the export
                if backend != "auto":
                    raise
                logger.warning("running the emotion CNN with PyTorch: %s", error)
            else:
                from fer_video.backends.onnx_backend import OnnxBackend

                runtime = OnnxBackend(onnx_path, resolved, threads)
                return cls(
                    None, runtime.checkpoint_meta, resolved, flip_tta, runtime, backend_reason=reason, source=path
                )
        model, meta = _load_torch_model(path, resolved)
        return cls(model, meta, resolved, flip_tta=flip_tta, source=path)

    @classmethod
    def _from_onnx(
        cls, path: str | os.PathLike, backend: str, device: str, flip_tta: bool, threads: int | None
    ) -> CropClassifier:
        """An exported file runs in ONNX Runtime whatever ``auto`` would pick (on the CPU when this
        onnxruntime build cannot use ``device``); its own precision decides ``onnx`` vs ``onnx-int8``."""
        from fer_video.backends.onnx_backend import OnnxBackend

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
    def device(self) -> torch.device:
        """Where the PyTorch model runs (imports PyTorch)."""
        import torch

        return torch.device(self.device_name)

    @property
    def model(self) -> nn.Module:
        """The PyTorch module (for ten-crop TTA, training tools and the like), loaded on first use."""
        if self._model is None:
            if self._source is None:
                raise ValueError(
                    "this classifier was loaded from an ONNX file and has no PyTorch model; use the .pt file"
                )
            self._model, _ = _load_torch_model(self._source, self.device_name)
        return self._model

    @property
    def backend_name(self) -> str:
        """``torch``, ``onnx`` or ``onnx-int8``."""
        return self.backend.name

    @property
    def embedding_dim(self) -> int:
        return self.backend.embedding_dim

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """This CNN's class probabilities for its ``logits``: softmax at its temperature."""
        return calibrated_softmax(logits, self.temperature)

    def predict(self, crops: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities (N, C) (calibrated when the checkpoint has a temperature) and embeddings
        (N, D) as float32 numpy arrays."""
        logits, features = backend_logits_and_features(self.backend, crops, self.preprocess, batch_size, self.flip_tta)
        return self.probabilities(logits), features

    def predict_proba(self, crops: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Probabilities (N, C) for uint8 crops (N, H, W) gray or (N, H, W, 3) RGB."""
        return self.predict(crops, batch_size)[0]


def _load_torch_model(path: str | os.PathLike, device: str) -> tuple[nn.Module, dict[str, Any]]:
    """The checkpoint's PyTorch module on ``device`` and its ``meta`` (a bad temperature is an error)."""
    from fer_video.checkpoint import load_checkpoint, model_from_checkpoint

    model, meta = model_from_checkpoint(load_checkpoint(path, map_location=device), device=device)
    checkpoint_temperature(meta)
    return model, meta


def _onnx_graph(path: str | os.PathLike, kind: str, auto: bool, threads: int | None) -> tuple[Path, str]:
    """The cached ONNX graph (``onnx`` or ``onnx-int8``) of the checkpoint ``path``, exported now if
    missing, and why ``auto`` chose it (``auto``: fp32 or int8 by :mod:`fer_video.backends.auto`'s rule)."""
    from fer_video.export.cache import cached_classifier_onnx, classifier_onnx

    if not Path(path).is_file():
        raise CheckpointError(f"weights file not found: {path}")
    sha = file_sha256(path)
    model = meta = None
    fp32 = cached_classifier_onnx(sha)
    if fp32 is None:  # first use of this checkpoint: export it (this loads PyTorch)
        model, meta = _load_torch_model(path, "cpu")
        fp32 = classifier_onnx(path, model, meta, sha256=sha)
    if not auto:
        return (classifier_onnx(path, model, meta, int8=True, sha256=sha) if kind == "onnx-int8" else fp32), ""
    from fer_video.backends.auto import choose_cpu_backend
    from fer_video.export.format import checkpoint_fields, read_metadata

    meta = meta if meta is not None else checkpoint_fields(read_metadata(fp32))
    choice = choose_cpu_backend(path, meta, fp32, threads, sha256=sha, model=model)
    return choice.path, choice.reason
