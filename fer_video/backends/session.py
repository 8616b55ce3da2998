"""Opening exported ONNX files with ONNX Runtime, with one-line errors for bad files."""

from __future__ import annotations

import os
from typing import Any

import torch

from fer_video.backends.selection import onnx_runs_on
from fer_video.export.onnx import OnnxModelError, read_metadata


def open_session(
    path: str | os.PathLike, kind: str, device: torch.device | None = None, threads: int | None = None
) -> tuple[Any, dict[str, Any]]:
    """An ``onnxruntime.InferenceSession`` for the fer-video export at ``path`` and its metadata.

    ``kind`` is the graph expected (``classifier`` or ``gru_step``); ``device`` defaults to the
    CPU (CUDA needs an onnxruntime build with CUDA); ``threads``: intra-op threads (default: as
    many as PyTorch uses).
    """
    import onnxruntime as ort

    metadata = read_metadata(path)
    if metadata.get("kind") != kind:
        raise OnnxModelError(f"{path} holds a {metadata.get('kind')!r} graph, not a {kind!r}")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only; they are raised as exceptions anyway
    try:
        session = ort.InferenceSession(str(path), options, providers=_providers(device))
    except Exception as error:  # onnxruntime raises its own exception types for invalid graphs
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise OnnxModelError(f"ONNX Runtime cannot load {path}: {reason}") from None
    return session, metadata


def _providers(device: torch.device | None) -> list:
    if device is None or device.type == "cpu":
        return ["CPUExecutionProvider"]
    if onnx_runs_on(device):
        return [("CUDAExecutionProvider", {"device_id": device.index or 0}), "CPUExecutionProvider"]
    raise ValueError(
        f"this onnxruntime build cannot run on {device}; use --device cpu with the ONNX backends, or --backend torch"
    )
