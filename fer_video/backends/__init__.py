"""Inference backends for the emotion CNN: PyTorch, or ONNX Runtime (fp32 or int8) on the CPU.

A backend maps a normalised batch (B, 1, S, S) to ``(logits, embeddings)``; ``resolve_backend``
turns ``auto`` into the faster one for the device (ONNX Runtime on the CPU when it is
installed, PyTorch on CUDA). Names are imported on first use (:mod:`fer_video.lazy`): reading
:data:`BACKENDS` loads neither PyTorch nor ONNX Runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fer_video.lazy import lazy_exports

if TYPE_CHECKING:
    from fer_video.backends.base import InferenceBackend
    from fer_video.backends.onnx_backend import OnnxBackend
    from fer_video.backends.selection import BACKENDS, onnx_runs_on, onnxruntime_available, resolve_backend
    from fer_video.backends.torch_backend import TorchBackend

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "BACKENDS": "fer_video.backends.selection",
        "InferenceBackend": "fer_video.backends.base",
        "OnnxBackend": "fer_video.backends.onnx_backend",
        "TorchBackend": "fer_video.backends.torch_backend",
        "onnx_runs_on": "fer_video.backends.selection",
        "onnxruntime_available": "fer_video.backends.selection",
        "resolve_backend": "fer_video.backends.selection",
    },
)

__all__ = [
    "BACKENDS",
    "InferenceBackend",
    "OnnxBackend",
    "TorchBackend",
    "onnx_runs_on",
    "onnxruntime_available",
    "resolve_backend",
]
