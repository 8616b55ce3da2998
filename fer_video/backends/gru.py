"""The temporal GRU's single step in ONNX Runtime, and a per-track smoother built on it.

:class:`OnnxGruSmoother` keeps the contract of ``fer_video.temporal``'s smoothers
(``update(probs, embedding)`` per frame, ``probs=None`` for a missed frame) and gives the same
probabilities as the PyTorch ``GruSmoother``. :func:`load_gru_for_backend` picks the GRU that
runs like the emotion CNN: this step when the CNN runs on ONNX Runtime, else the PyTorch module.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from fer_video.backends.session import open_session
from fer_video.export.format import GRU_INPUTS, GRU_OUTPUTS
from fer_video.pretrained import DEFAULT_MODEL, default_gru_path
from fer_video.temporal.model import TemporalGRU, load_gru


class OnnxGruStep:
    """One frame of the temporal GRU for a batch of tracks, run by ONNX Runtime (see
    :func:`fer_video.export.export_gru_step`). The step is tiny: one thread is fastest."""

    def __init__(self, path: str | os.PathLike, threads: int = 1) -> None:
        self.session, self.metadata = open_session(path, "gru_step", threads=threads)
        self.embed_dim = int(self.metadata["embed_dim"])
        self.num_classes = int(self.metadata["num_classes"])
        self._initial = np.asarray(self.metadata["initial_state"], dtype=np.float32)

    @classmethod
    def from_checkpoint(
        cls,
        weights: str | os.PathLike | None = None,
        cnn_weights: str | os.PathLike | None = None,
        threads: int = 1,
        model: str = DEFAULT_MODEL,
    ) -> OnnxGruStep:
        """The GRU of the shipped ``model`` (or ``weights``), exported on first use to the cache;
        warns like ``load_gru`` when ``cnn_weights`` is not the CNN it was trained on."""
        from fer_video.export.cache import gru_onnx

        source = Path(weights) if weights else default_gru_path(model)
        gru = load_gru(source, device="cpu", cnn_weights=cnn_weights, model=model)
        return cls(gru_onnx(source, gru), threads)

    def initial_state(self, batch_size: int) -> np.ndarray:
        """The state before a track's first frame, (B, S)."""
        return np.tile(self._initial, (batch_size, 1))

    def step(
        self, embeddings: np.ndarray, probs: np.ndarray, present: np.ndarray, state: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Smoothed probabilities (B, C) and the next state (B, S) for one frame of B tracks:
        embeddings (B, D), CNN probabilities (B, C), ``present`` (B,) bool, state (B, S)."""
        feed = dict(
            zip(
                GRU_INPUTS,
                (
                    np.ascontiguousarray(embeddings, dtype=np.float32),
                    np.ascontiguousarray(probs, dtype=np.float32),
                    np.ascontiguousarray(present, dtype=bool),
                    np.ascontiguousarray(state, dtype=np.float32),
                ),
            )
        )
        smoothed, next_state = self.session.run(list(GRU_OUTPUTS), feed)
        return smoothed, next_state

    def smoother(self) -> OnnxGruSmoother:
        """A fresh smoother for one face track."""
        return OnnxGruSmoother(self)


class OnnxGruSmoother:
    """Runs :class:`OnnxGruStep` one frame at a time for one track, keeping its state."""

    def __init__(self, step: OnnxGruStep) -> None:
        self.step = step
        self.state = step.initial_state(1)

    def update(self, probs: np.ndarray | None, embedding: np.ndarray | None) -> np.ndarray:
        """Smoothed probabilities (C,) after this frame; ``probs=None`` means the face was missed."""
        if probs is not None and embedding is None:
            raise ValueError("the GRU smoother needs the CNN embedding with each detected frame")
        present = probs is not None
        emb = _frame_vector(embedding if present else None, self.step.embed_dim)
        prob = _frame_vector(probs, self.step.num_classes)
        smoothed, self.state = self.step.step(emb[None], prob[None], np.array([present]), self.state)
        return smoothed[0]


def _frame_vector(values: np.ndarray | None, size: int) -> np.ndarray:
    """One frame's vector, zeros for a missed frame (as the PyTorch smoother feeds)."""
    if values is None:
        return np.zeros(size, dtype=np.float32)
    vector = np.asarray(values, dtype=np.float32)
    if vector.shape != (size,):
        raise ValueError(f"expected a vector of {size} values, got shape {vector.shape} (CNN and GRU mismatch?)")
    return vector


def load_gru_for_backend(
    backend: str,
    device: str | torch.device = "auto",
    weights: str | os.PathLike | None = None,
    cnn_weights: str | os.PathLike | None = None,
    model: str = DEFAULT_MODEL,
) -> TemporalGRU | OnnxGruStep:
    """The temporal GRU of the shipped ``model`` (or ``weights``), run like the emotion CNN: one
    ONNX Runtime step at a time (:class:`OnnxGruStep`, on the CPU) when the CNN's resolved
    ``backend`` is ``onnx`` or ``onnx-int8``, else the PyTorch module on ``device``. Either
    gives per-track smoothers through ``fer_video.temporal.make_smoother("gru", ...)``."""
    if backend in ("onnx", "onnx-int8"):
        return OnnxGruStep.from_checkpoint(weights, cnn_weights, model=model)
    return load_gru(weights, device=device, cnn_weights=cnn_weights, model=model)
