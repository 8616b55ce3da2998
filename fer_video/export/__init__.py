"""Export the emotion CNN and the temporal GRU for other runtimes (ONNX), and the on-disk cache of exports.

    from fer_video.export import export_classifier, classifier_onnx
    path = classifier_onnx("models/emotion_cnn.pt")   # exported once, then reused from the cache
"""

from fer_video.cache import cache_dir
from fer_video.export.cache import classifier_onnx, gru_onnx
from fer_video.export.onnx import EXPORT_VERSION, OPSET, export_classifier, export_gru_step

__all__ = [
    "EXPORT_VERSION",
    "OPSET",
    "cache_dir",
    "classifier_onnx",
    "export_classifier",
    "export_gru_step",
    "gru_onnx",
]
