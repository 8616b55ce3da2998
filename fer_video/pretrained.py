"""Locate and load the weights shipped in the repository's ``models/`` folder."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from fer_video.classifier import CropClassifier

DEFAULT_CNN_FILE = "emotion_cnn.pt"
DEFAULT_GRU_FILE = "emotion_gru.pt"


def shipped_weights_dir() -> Path:
    """The folder holding shipped weights: ``$FER_VIDEO_MODELS`` if set, else ``models/`` beside the package."""
    override = os.environ.get("FER_VIDEO_MODELS")
    return Path(override) if override else Path(__file__).resolve().parents[1] / "models"


def default_cnn_path() -> Path:
    return shipped_weights_dir() / DEFAULT_CNN_FILE


def default_gru_path() -> Path:
    return shipped_weights_dir() / DEFAULT_GRU_FILE


def load_classifier(
    weights: str | os.PathLike | None = None,
    device: str | torch.device = "auto",
    flip_tta: bool = False,
    backend: str = "auto",
    threads: int | None = None,
) -> CropClassifier:
    """The shipped emotion CNN (or ``weights``: a ``.pt`` checkpoint or an exported ``.onnx``),
    ready to classify face crops; ``backend`` is ``auto``, ``torch``, ``onnx`` or ``onnx-int8``."""
    return CropClassifier.from_file(
        str(weights or default_cnn_path()), device=device, flip_tta=flip_tta, backend=backend, threads=threads
    )
