"""Choosing a backend: ``auto``, ``torch``, ``onnx`` or ``onnx-int8``."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

BACKENDS: tuple[str, ...] = ("auto", "torch", "onnx", "onnx-int8")


def onnxruntime_available() -> bool:
    """ONNX Runtime and the ``onnx`` package (needed to export) are installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def resolve_backend(name: str, device: str | torch.device) -> str:
    """The backend to use on ``device``: ``auto`` is ``onnx`` on the CPU when ONNX Runtime is
    installed, else ``torch``; asking for an ONNX backend without ONNX Runtime is an error."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}")
    if name == "auto":
        return "onnx" if str(device) == "cpu" and onnxruntime_available() else "torch"
    if name != "torch" and not onnxruntime_available():
        raise ValueError(f"backend {name!r} needs ONNX Runtime: pip install onnxruntime onnx (or use --backend torch)")
    return name


def onnx_runs_on(device: str | torch.device) -> bool:
    """The installed ONNX Runtime can run on ``device`` (always the CPU; CUDA with onnxruntime-gpu)."""
    kind = str(device).partition(":")[0]
    if kind == "cpu":
        return True
    import onnxruntime as ort

    return kind == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers()
