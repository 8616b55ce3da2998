"""ONNX exports made on first use and kept in a cache, keyed by the sha256 of the weights they came from.

The cache is ``$FER_VIDEO_CACHE`` if set, else ``$XDG_CACHE_HOME/fer_video`` (``~/.cache/fer_video``);
the files live in its ``onnx/`` folder. Nothing is downloaded: the checkpoint is the source, and
a cached file whose metadata does not match it (other weights, older exporter) is redone. The int8
graph needs FER2013 Training crops to calibrate on, which users seldom have, so a checkpoint may
ship with its int8 graph beside it (``models/emotion_cnn.int8.onnx``), used when it matches. The
softmax temperature and the int8 accuracy record are part of the ``.pt`` file, so a recalibrated
checkpoint has another sha256 and so another cache entry. Finding a current export
(:func:`cached_classifier_onnx`) needs neither PyTorch nor the checkpoint loaded; making one does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fer_video.cache import cache_dir
from fer_video.checkpoint import file_sha256
from fer_video.export.format import EXPORT_VERSION, OnnxModelError, read_metadata

if TYPE_CHECKING:
    from torch import nn

#: Why a checkpoint has no int8 graph here: none beside it, and no FER2013 Training crops to make one with.
NO_INT8_GRAPH = (
    "no int8 graph beside the weights ('<name>.int8.onnx', made by `fer-video export --format onnx-int8`) and no "
    "FER2013 Training crops to quantize on (set FER2013_PATH); use --backend onnx or auto"
)


def cached_classifier_onnx(sha256: str, int8: bool = False) -> Path | None:
    """The current cached export (fp32, or ``int8``) of the CNN checkpoint whose sha256 is ``sha256``;
    ``None`` when it has not been made yet (or is stale)."""
    path = cache_dir() / "onnx" / f"{sha256}{'.int8' if int8 else ''}.onnx"
    return path if _is_current(path, sha256) else None


def classifier_onnx(
    weights: str | os.PathLike,
    model: nn.Module | None = None,
    meta: dict[str, Any] | None = None,
    int8: bool = False,
    calibration_data: str | os.PathLike | None = None,
    sha256: str | None = None,
) -> Path:
    """The cached ONNX export of the CNN checkpoint ``weights`` (made now if missing or stale).

    ``model``/``meta``: the checkpoint already loaded (spares loading it again); ``sha256``: the
    file's, when already known. ``int8``: the statically quantized graph: the one shipped beside
    ``weights`` (:func:`int8_onnx_beside`), else one calibrated now on FER2013 Training crops (needs
    the data set: ``calibration_data``, default ``$FER2013_PATH`` or ``../shared/data/fer2013.zip``;
    ``FileNotFoundError`` without it).
    """
    sha = sha256 or file_sha256(weights)
    fp32 = cached_classifier_onnx(sha)
    if fp32 is None:
        from fer_video.export.onnx import export_classifier

        if model is None or meta is None:
            from fer_video.checkpoint import load_checkpoint, model_from_checkpoint

            model, meta = model_from_checkpoint(load_checkpoint(weights))
        fp32 = export_classifier(model, meta, _cache_file(f"{sha}.onnx"), source_sha256=sha)
    if not int8:
        return fp32
    quantized = int8_onnx_at_hand(weights, sha)
    if quantized is None:
        from fer_video.data import resolve_fer2013_path

        data = resolve_fer2013_path(calibration_data)
        if data is None:  # checked before the quantizer (ONNX, PyTorch) is imported: a cheap answer on every load
            raise FileNotFoundError(NO_INT8_GRAPH)
        from fer_video.export.quantize import quantize_classifier, training_calibration_crops

        quantized = _cache_file(f"{sha}.int8.onnx")
        quantize_classifier(fp32, quantized, training_calibration_crops(data))
    return quantized


def int8_onnx_at_hand(weights: str | os.PathLike, sha256: str) -> Path | None:
    """A current int8 graph of the checkpoint ``weights`` (sha256 ``sha256``) that needs no quantizing:
    the cached one, else the one beside it (:func:`int8_onnx_beside`); ``None`` when neither exists."""
    return cached_classifier_onnx(sha256, int8=True) or int8_onnx_beside(weights, sha256)


def int8_onnx_beside(weights: str | os.PathLike, sha256: str) -> Path | None:
    """The int8 graph shipped beside the checkpoint ``weights`` (``<name>.int8.onnx``, written by
    ``fer-video export --format onnx-int8``) when it was quantized from this very file by the current
    exporter; ``None`` otherwise. It lets ``auto`` run int8 where no FER2013 data is at hand to calibrate on."""
    path = Path(weights).with_suffix(".int8.onnx")
    return path if _is_current(path, sha256, precision="int8") else None


def gru_onnx(weights: str | os.PathLike, gru: nn.Module) -> Path:
    """The cached ONNX export of one step of the temporal GRU ``gru`` loaded from ``weights``."""
    from fer_video.export.onnx import export_gru_step

    sha = file_sha256(weights)
    path = _cache_file(f"{sha}.gru_step.onnx")
    if not _is_current(path, sha):
        export_gru_step(gru, path, source_sha256=sha)
    return path


def mtcnn_onnx(name: str) -> Path:
    """The cached ONNX export of MTCNN's network ``name`` (``pnet``, ``rnet``, ``onet``), keyed by
    the sha256 of facenet-pytorch's weight file for it."""
    from fer_video.faces.mtcnn_runtime import facenet_weights_dir

    sha = file_sha256(facenet_weights_dir() / f"{name}.pt")
    path = _cache_file(f"{sha}.mtcnn_{name}.onnx")
    if not _is_current(path, sha):
        from fer_video.export.onnx import export_mtcnn_net
        from fer_video.faces.mtcnn_nets import load_mtcnn_net

        export_mtcnn_net(load_mtcnn_net(name), name, path, source_sha256=sha)
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


def _is_current(path: Path, sha: str, precision: str | None = None) -> bool:
    """``path`` exists, is readable ONNX, and was exported from ``sha`` by this exporter version (in
    ``precision``, ``fp32`` or ``int8``, when given)."""
    if not path.is_file():
        return False
    try:
        metadata = read_metadata(path)
    except OnnxModelError:
        return False
    if precision is not None and metadata.get("precision") != precision:
        return False
    return metadata.get("source_sha256") == sha and metadata.get("export_version") == EXPORT_VERSION
