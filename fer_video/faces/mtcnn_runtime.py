"""What runs MTCNN's three networks: ONNX Runtime on the CPU, PyTorch elsewhere; NumPy in and out.

On the CPU the networks are exported once from facenet-pytorch's weight files into the ONNX
cache (:func:`fer_video.export.cache.mtcnn_onnx`, keyed by each file's sha256), and later runs
load neither PyTorch nor the weight files' pickles. On CUDA, without ONNX Runtime, or without a
writable cache, the PyTorch modules of :mod:`fer_video.faces.mtcnn_nets` run instead.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

#: The cascade's networks, in order.
NET_NAMES: tuple[str, ...] = ("pnet", "rnet", "onet")

#: One network: a normalised float32 batch (B, 3, H, W) in, its outputs (float32 arrays) out.
MtcnnNet = Callable[[np.ndarray], tuple[np.ndarray, ...]]


def facenet_weights_dir() -> Path:
    """The folder of facenet-pytorch's MTCNN weight files (``pnet.pt``, ``rnet.pt``, ``onet.pt``),
    found without running the package (its ``__init__`` imports torchvision)."""
    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the MTCNN face detector needs facenet-pytorch: pip install facenet-pytorch==2.5.3")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


class OnnxNet:
    """One MTCNN network exported to ONNX, run by ONNX Runtime on the CPU."""

    def __init__(self, path: str | Path, name: str, threads: int | None = None) -> None:
        from fer_video.backends.session import open_session
        from fer_video.export.format import MTCNN_INPUTS, MTCNN_OUTPUTS

        self.session, _ = open_session(path, f"mtcnn_{name}", threads=threads)
        self._input, self._outputs = MTCNN_INPUTS[0], list(MTCNN_OUTPUTS[name])

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(self.session.run(self._outputs, {self._input: batch}))


class TorchNet:
    """One MTCNN network as a PyTorch module on ``device``."""

    def __init__(self, module, device: str) -> None:
        self.module, self.device = module, device

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, ...]:
        import torch

        with torch.inference_mode():
            outputs = self.module(torch.from_numpy(batch).to(self.device))
        return tuple(out.float().cpu().numpy() for out in outputs)


def load_mtcnn_runtime(device: str = "cpu", threads: int | None = None) -> tuple[MtcnnNet, MtcnnNet, MtcnnNet]:
    """P-, R- and O-net ready to run on ``device`` (``cpu`` or ``cuda[:N]``)."""
    from fer_video.backends.selection import onnxruntime_available

    if device == "cpu" and onnxruntime_available():
        from fer_video.export.cache import mtcnn_onnx

        try:
            return tuple(OnnxNet(mtcnn_onnx(name), name, threads) for name in NET_NAMES)
        except PermissionError as error:  # no writable cache for the export
            logger.warning("running MTCNN with PyTorch: %s", error)
    from fer_video.faces.mtcnn_nets import load_mtcnn_nets

    return tuple(TorchNet(net, device) for net in load_mtcnn_nets(device))
