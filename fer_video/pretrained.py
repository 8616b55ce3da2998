"""Locate and load the shipped weights: the repository's ``models/`` folder, which a wheel installs
as ``fer_video/weights/``.

Two models ship, chosen by name (``--model`` on the command line): ``standard`` and ``fast``
(see :data:`SHIPPED_MODELS`); each is an emotion CNN plus the temporal GRU trained on its
embeddings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import torch

    from fer_video.classifier import CropClassifier


@dataclass(frozen=True)
class ShippedModel:
    """One shipped model: its CNN and GRU files in :func:`shipped_weights_dir`, and what it is."""

    cnn_file: str
    gru_file: str
    summary: str


SHIPPED_MODELS: dict[str, ShippedModel] = {
    "standard": ShippedModel(
        "emotion_cnn.pt", "emotion_gru.pt", "vgg_fer, 7.1M parameters, the most accurate (~470M multiply-adds)"
    ),
    "fast": ShippedModel(
        "emotion_cnn_fast.pt",
        "emotion_gru_fast.pt",
        "vgg_fer_fast, 0.44M parameters, ~16x fewer multiply-adds, less accurate and less robust to blurred faces",
    ),
}
DEFAULT_MODEL = "standard"


def shipped_model(name: str) -> ShippedModel:
    """The shipped model called ``name``; an unknown name is a ``ValueError`` naming the choices."""
    try:
        return SHIPPED_MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(SHIPPED_MODELS)}") from None


def shipped_weights_dir() -> Path:
    """The folder holding shipped weights: ``$FER_VIDEO_MODELS`` if set; else ``fer_video/weights/``, where a
    wheel (``pip install .``) puts the files of ``models/``; else ``models/`` of the source tree (an editable
    install or a checkout)."""
    override = os.environ.get("FER_VIDEO_MODELS")
    if override:
        return Path(override)
    package = Path(__file__).resolve().parent
    installed = package / "weights"
    return installed if installed.is_dir() else package.parent / "models"


def default_cnn_path(model: str = DEFAULT_MODEL) -> Path:
    """Where the CNN of the shipped ``model`` is (the file may not exist yet)."""
    return shipped_weights_dir() / shipped_model(model).cnn_file


def default_gru_path(model: str = DEFAULT_MODEL) -> Path:
    """Where the temporal GRU of the shipped ``model`` is (the file may not exist yet)."""
    return shipped_weights_dir() / shipped_model(model).gru_file


def load_classifier(
    weights: str | os.PathLike | None = None,
    device: str | torch.device = "auto",
    flip_tta: bool = False,
    backend: str = "auto",
    threads: int | None = None,
    model: str = DEFAULT_MODEL,
) -> CropClassifier:
    """The CNN of the shipped ``model`` (``standard`` or ``fast``), or ``weights`` when given (a
    ``.pt`` checkpoint or an exported ``.onnx``), ready to classify face crops; ``backend`` is
    ``auto``, ``torch``, ``onnx`` or ``onnx-int8``. A missing file is a ``CheckpointError``."""
    from fer_video.classifier import CropClassifier

    shipped = default_cnn_path(model)  # an unknown name fails even when weights are given
    source = weights or shipped
    return CropClassifier.from_file(str(source), device=device, flip_tta=flip_tta, backend=backend, threads=threads)


def classify_crops(
    crops: np.ndarray, weights: str | None = None, device: str = "auto", model: str = DEFAULT_MODEL
) -> np.ndarray:
    """Emotion probabilities (N, 7), columns in :data:`~fer_video.constants.CLASSES` order, for face
    crops (N, H, W[, 3]), from the shipped ``model`` (``standard`` or ``fast``) or ``weights``."""
    return load_classifier(weights, device=device, model=model).predict_proba(crops)
