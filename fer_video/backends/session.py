"""Opening exported ONNX files with ONNX Runtime, with one-line errors for bad files."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from fer_video.backends.cpu import default_threads
from fer_video.backends.selection import onnx_runs_on
from fer_video.export.format import OnnxModelError, read_metadata

if TYPE_CHECKING:
    import torch


def open_session(
    path: str | os.PathLike, kind: str, device: str | torch.device | None = None, threads: int | None = None
) -> tuple[Any, dict[str, Any]]:
    """An ``onnxruntime.InferenceSession`` for the fer-video export at ``path`` and its metadata.

    ``kind`` is the graph expected (``classifier``, ``gru_step``, ``mtcnn_pnet``, ...); ``device``
    defaults to the CPU (CUDA needs an onnxruntime build with CUDA); ``threads``: intra-op threads
    (default :func:`fer_video.backends.cpu.default_threads`).
    """
    import onnxruntime as ort

    metadata = read_metadata(path)
    if metadata.get("kind") != kind:
        raise OnnxModelError(f"{path} holds a {metadata.get('kind')!r} graph, not a {kind!r}")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    # A memory pattern is planned and kept for each new set of input shapes; MTCNN's candidate batches
    # and the CNN's face batches change size from frame to frame, so a video's peak memory grew with
    # its length (606 MB for 2 min of 640x360 against 482 MB with it off, at the same speed:
    # results/bench_memory.md).
    options.enable_mem_pattern = False
    if kind != "classifier":
        # Each session has a thread pool of its own whose threads spin for a while after each run,
        # waiting for more work. A frame's detection runs MTCNN's three sessions in turn, then the CNN's:
        # each found the cores taken by the spinning threads of the one before (on 2 cores, 49-78 ms
        # to detect a frame's face instead of 22-26, 14-22 ms to classify it instead of 5). The CNN's
        # threads still spin: batches of crops run back to back, 5-10 % faster so.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only; they are raised as exceptions anyway
    if metadata.get("precision") == "int8":
        # Only the first conv is float32 there (fer_video.export.quantize); the NCHWc layout ONNX
        # Runtime gives it costs a reorder before the int8 layers' NHWC: `fast` ran 7 % slower with it.
        options.add_session_config_entry("optimization.disable_specified_optimizers", "NchwcTransformer")
    try:
        session = ort.InferenceSession(str(path), options, providers=_providers(device))
    except Exception as error:  # onnxruntime raises its own exception types for invalid graphs
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise OnnxModelError(f"ONNX Runtime cannot load {path}: {reason}") from None
    return session, metadata


def _providers(device: str | torch.device | None) -> list:
    name = "cpu" if device is None else str(device)
    if name == "cpu":
        return ["CPUExecutionProvider"]
    if onnx_runs_on(name):
        index = int(name.partition(":")[2] or 0)
        return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
    raise ValueError(
        f"this onnxruntime build cannot run on {name}; use --device cpu with the ONNX backends, or --backend torch"
    )
