"""fer-video: facial emotion recognition for still images and video.

Public API::

    import fer_video
    data = fer_video.load_fer2013("fer2013.zip")            # {"training": FaceArrays, ...}
    model = fer_video.create_model("vgg_fer_small")        # any name in fer_video.list_models()
    classifier = fer_video.load_classifier()               # the shipped model ("standard")
    fast = fer_video.load_classifier(model="fast")         # or the faster one (SHIPPED_MODELS)
    probs = fer_video.classify_crops(data["publictest"].images[:8])
"""

from __future__ import annotations

import numpy as np

from fer_video.constants import CLASSES
from fer_video.data import FaceArrays, load_fer2013
from fer_video.models import create_model, list_models
from fer_video.pretrained import DEFAULT_MODEL, SHIPPED_MODELS, load_classifier
from fer_video.recognizer import EmotionRecognizer

__version__ = "0.1.0"


def classify_crops(
    crops: np.ndarray, weights: str | None = None, device: str = "auto", model: str = DEFAULT_MODEL
) -> np.ndarray:
    """Emotion probabilities (N, 7), columns in :data:`CLASSES` order, for face crops (N, H, W[, 3]),
    from the shipped ``model`` (``standard`` or ``fast``) or ``weights``."""
    return load_classifier(weights, device=device, model=model).predict_proba(crops)


__all__ = [
    "CLASSES",
    "EmotionRecognizer",
    "FaceArrays",
    "SHIPPED_MODELS",
    "classify_crops",
    "create_model",
    "list_models",
    "load_classifier",
    "load_fer2013",
]
