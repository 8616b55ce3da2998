"""ONNX exports made on first use and kept in a cache, keyed by the sha256 of the ``.pt`` they came from.

The cache is ``$FER_VIDEO_CACHE`` if set, else ``$XDG_CACHE_HOME/fer_video`` (``~/.cache/fer_video``);
the files live in its ``onnx/`` folder. Nothing is downloaded: the checkpoint is the source, and
a cached file whose metadata does not match it (other weights, older exporter, another softmax
temperature) is redone. The temperature is part of the ``.pt`` file, so a recalibrated checkpoint
has another sha256 and so another cache entry.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch import nn

from fer_video.cache import cache_dir
from fer_video.checkpoint import file_sha256
from fer_video.export.onnx import EXPORT_VERSION, OnnxModelError, export_classifier, export_gru_step, read_metadata


def classifier_onnx(
    weights: str | os.PathLike,
    model: nn.Module | None = None,
    meta: dict[str, Any] | None = None,
    int8: bool = False,
    calibration_data: str | os.PathLike | None = None,
) -> Path:
    """The cached ONNX export of the CNN checkpoint ``weights`` (made now if missing or stale).

    ``model``/``meta``: the checkpoint already loaded (spares loading it again). ``int8``: the
    statically quantized graph, calibrated on FER2013 Training crops (needs the data set:
    ``calibration_data``, default ``$FER2013_PATH`` or ``../shared/data/fer2013.zip``).
    """
    sha = file_sha256(weights)
    fp32 = _cache_file(f"{sha}.onnx")
    if not _is_current(fp32, sha, meta):
        if model is None or meta is None:
            from fer_video.checkpoint import load_checkpoint, model_from_checkpoint

            model, meta = model_from_checkpoint(load_checkpoint(weights))
        export_classifier(model, meta, fp32, source_sha256=sha)
    if not int8:
        return fp32
    quantized = _cache_file(f"{sha}.int8.onnx")
    if not _is_current(quantized, sha, meta):
        from fer_video.export.quantize import quantize_classifier, training_calibration_crops

        quantize_classifier(fp32, quantized, training_calibration_crops(calibration_data))
    return quantized


def gru_onnx(weights: str | os.PathLike, gru: nn.Module) -> Path:
    """The cached ONNX export of one step of the temporal GRU ``gru`` loaded from ``weights``."""
    sha = file_sha256(weights)
    path = _cache_file(f"{sha}.gru_step.onnx")
    if not _is_current(path, sha):
        export_gru_step(gru, path, source_sha256=sha)
    return path


def _cache_file(name: str) -> Path:
    folder = cache_dir() / "onnx"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PermissionError(
            f"cannot create the ONNX cache folder {folder} ({error.strerror}); set FER_VIDEO_CACHE to a writable "
            "folder, or use --backend torch"
        ) from None
    return folder / name


def _is_current(path: Path, sha: str, meta: dict[str, Any] | None = None) -> bool:
    """``path`` exists, is readable ONNX, and was exported from ``sha`` by this exporter version
    (and with the softmax temperature of ``meta``, the checkpoint's, when given)."""
    if not path.is_file():
        return False
    try:
        metadata = read_metadata(path)
    except OnnxModelError:
        return False
    if meta is not None and metadata.get("temperature") != meta.get("temperature"):
        return False
    return metadata.get("source_sha256") == sha and metadata.get("export_version") == EXPORT_VERSION
