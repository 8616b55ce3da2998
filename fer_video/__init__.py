"""fer-video: facial emotion recognition for still images and video.

Public API::

    import fer_video
    data = fer_video.load_fer2013("fer2013.zip")            # {"training": FaceArrays, ...}
    model = fer_video.create_model("vgg_fer_small")        # any name in fer_video.list_models()
    classifier = fer_video.load_classifier()               # the shipped model ("standard")
    fast = fer_video.load_classifier(model="fast")         # or the faster one (SHIPPED_MODELS)
    probs = fer_video.classify_crops(data["publictest"].images[:8])

Each name is imported on first use (:mod:`fer_video.lazy`), so ``import fer_video`` is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fer_video.lazy import lazy_exports

if TYPE_CHECKING:
    from fer_video.constants import CLASSES
    from fer_video.data import FaceArrays, load_fer2013
    from fer_video.models import create_model, list_models
    from fer_video.pretrained import DEFAULT_MODEL, SHIPPED_MODELS, classify_crops, load_classifier
    from fer_video.recognizer import EmotionRecognizer

__version__ = "0.1.0"

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "CLASSES": "fer_video.constants",
        "DEFAULT_MODEL": "fer_video.pretrained",
        "EmotionRecognizer": "fer_video.recognizer",
        "FaceArrays": "fer_video.data",
        "SHIPPED_MODELS": "fer_video.pretrained",
        "classify_crops": "fer_video.pretrained",
        "create_model": "fer_video.models",
        "list_models": "fer_video.models",
        "load_classifier": "fer_video.pretrained",
        "load_fer2013": "fer_video.data",
    },
)

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
