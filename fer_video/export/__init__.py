"""Export the emotion CNN, the temporal GRU and MTCNN for other runtimes (ONNX), and the on-disk cache of exports.

    from fer_video.export import export_classifier, classifier_onnx
    path = classifier_onnx("models/emotion_cnn.pt")   # exported once, then reused from the cache

Names are imported on first use (:mod:`fer_video.lazy`): finding a cached export loads no PyTorch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fer_video.lazy import lazy_exports

if TYPE_CHECKING:
    from fer_video.cache import cache_dir
    from fer_video.export.cache import classifier_onnx, gru_onnx, mtcnn_onnx
    from fer_video.export.format import EXPORT_VERSION
    from fer_video.export.onnx import OPSET, export_classifier, export_gru_step, export_mtcnn_net

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "EXPORT_VERSION": "fer_video.export.format",
        "OPSET": "fer_video.export.onnx",
        "cache_dir": "fer_video.cache",
        "classifier_onnx": "fer_video.export.cache",
        "export_classifier": "fer_video.export.onnx",
        "export_gru_step": "fer_video.export.onnx",
        "export_mtcnn_net": "fer_video.export.onnx",
        "gru_onnx": "fer_video.export.cache",
        "mtcnn_onnx": "fer_video.export.cache",
    },
)

__all__ = [
    "EXPORT_VERSION",
    "OPSET",
    "cache_dir",
    "classifier_onnx",
    "export_classifier",
    "export_gru_step",
    "export_mtcnn_net",
    "gru_onnx",
    "mtcnn_onnx",
]
