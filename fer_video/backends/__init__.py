"""Inference backends for the emotion CNN: PyTorch, or ONNX Runtime (fp32 or int8) on the CPU.

A backend maps a normalised batch (B, 1, S, S) to ``(logits, embeddings)``; ``resolve_backend``
turns ``auto`` into the faster one for the device (ONNX Runtime on the CPU when it is
installed, PyTorch on CUDA).
"""

from fer_video.backends.base import InferenceBackend
from fer_video.backends.onnx_backend import OnnxBackend
from fer_video.backends.selection import BACKENDS, onnx_runs_on, onnxruntime_available, resolve_backend
from fer_video.backends.torch_backend import TorchBackend

__all__ = [
    "BACKENDS",
    "InferenceBackend",
    "OnnxBackend",
    "TorchBackend",
    "onnx_runs_on",
    "onnxruntime_available",
    "resolve_backend",
]
