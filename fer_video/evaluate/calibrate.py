"""Calibrate a CNN checkpoint's confidence and ship the result with its weights.

:func:`calibrate_checkpoint` fits the softmax temperature T on a FER2013 split (PublicTest by
default; :mod:`fer_video.evaluate.calibration`), measures the int8 graph's accuracy there (what
``--backend auto`` needs before it runs int8), and writes a copy of the checkpoint whose
``meta["temperature"]`` the classifier applies, plus a report. The weights are copied unchanged:
the original is the new file without ``temperature``, and ``meta["calibration"]`` names its sha256.

:func:`retarget_gru` points a temporal GRU trained on the original CNN at the calibrated copy.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Any

import numpy as np

from fer_video.checkpoint import file_sha256, hardware_description, load_checkpoint, save_atomic
from fer_video.classifier import CropClassifier, backend_logits_and_features
from fer_video.constants import CLASSES
from fer_video.data import FaceArrays, load_fer2013, require_fer2013_path
from fer_video.evaluate.calibration import (
    ECE_BINS,
    calibration_scores,
    fit_temperature,
    reliability_bins,
    split_half_check,
)
from fer_video.evaluate.calibration_report import report_paths, write_calibration_report
from fer_video.evaluate.outputs import check_overwrite
from fer_video.probabilities import calibrated_softmax
from fer_video.provenance import source_revision
from fer_video.train.loop import data_fingerprint

METHOD = "temperature scaling: T minimising the NLL of softmax(logits / T), bounded search over log T"


def checkpoint_logits(
    weights: str | os.PathLike, images: np.ndarray, device: str = "cpu", batch_size: int = 256
) -> tuple[np.ndarray, CropClassifier]:
    """Raw logits (N, C) of the checkpoint ``weights`` (run by PyTorch, no temperature) on uint8 crops."""
    classifier = CropClassifier.from_file(weights, device=device, backend="torch")
    if tuple(classifier.classes) != CLASSES:
        raise ValueError(f"{weights} predicts classes {classifier.classes}, expected {CLASSES}")
    logits, _ = backend_logits_and_features(classifier.backend, images, classifier.preprocess, batch_size)
    return logits, classifier


def int8_accuracy(
    weights: str | os.PathLike,
    faces: FaceArrays,
    fp32_logits: np.ndarray,
    split: str,
    data_path: str | os.PathLike,
    temperature: float,
    batch_size: int = 256,
) -> dict[str, Any]:
    """Accuracy on ``faces`` of the int8 graph ``--backend onnx-int8`` and ``auto`` run (the cached
    quantization of ``weights``), beside the fp32 accuracy of ``fp32_logits``; and the NLL and ECE
    of its logits at ``temperature`` (fitted on the fp32 logits)."""
    import onnxruntime

    from fer_video.backends import OnnxBackend
    from fer_video.export.cache import classifier_onnx
    from fer_video.export.quantize import CALIBRATION_CROPS
    from fer_video.preprocess import preprocess_config

    runtime = OnnxBackend(classifier_onnx(weights, int8=True, calibration_data=data_path))
    logits, _ = backend_logits_and_features(runtime, faces.images, preprocess_config(runtime.metadata), batch_size)
    int8_top, fp32_top = logits.argmax(axis=1), fp32_logits.argmax(axis=1)
    scores = calibration_scores(logits, faces.labels, temperature)
    return {
        "split": split,
        "n_images": int(len(faces)),
        "fp32": float((fp32_top == faces.labels).mean()),
        "int8": float((int8_top == faces.labels).mean()),
        "top1_agreement": float((int8_top == fp32_top).mean()),
        "nll_calibrated": scores["nll_after"],
        "ece_calibrated": scores["ece_after"],
        "calibration_crops": CALIBRATION_CROPS,
        "onnxruntime": onnxruntime.__version__,
        "hardware": hardware_description(),
    }


def calibrate_checkpoint(
    weights: str | os.PathLike,
    out: str | os.PathLike,
    data_path: str | os.PathLike | None = None,
    split: str = "publictest",
    report_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
    device: str = "cpu",
    batch_size: int = 256,
    measure_int8: bool = True,
    command: str = "",
    seed: int = 0,
) -> dict[str, Any]:
    """Fit T for ``weights`` on ``split``, write the calibrated checkpoint to ``out`` and the report
    (``calibration.json``, ``report.md``, ``reliability.png``) to ``report_dir`` (default
    ``results/calibration/<out stem>``). Nothing existing is replaced unless ``overwrite``
    (``out`` may be ``weights`` itself then). ``measure_int8``: also record the int8 accuracy
    (needs ONNX Runtime). Returns what ``calibration.json`` holds."""
    revision = source_revision()  # before ``out`` (often a tracked file in models/) is rewritten
    source, target = Path(weights), Path(out)
    data = require_fer2013_path(data_path)
    folder = Path(report_dir) if report_dir else Path("results") / "calibration" / target.stem
    paths = report_paths(folder)
    check_overwrite([target, *paths.values()], overwrite)
    payload = load_checkpoint(source)
    source_sha = file_sha256(source)
    faces = load_fer2013(data, splits=[split])[split]
    if len(faces) == 0:
        raise ValueError(f"the {split} split of {data} holds no images")
    logits, _ = checkpoint_logits(source, faces.images, device, batch_size)
    temperature = fit_temperature(logits, faces.labels)
    record = {
        "method": METHOD,
        "temperature": temperature,
        "split": split,
        "data": str(data),
        "data_sha256": data_fingerprint(data).get("sha256"),
        "ece_bins": ECE_BINS,
        **calibration_scores(logits, faces.labels, temperature),
        "split_half": split_half_check(logits, faces.labels, seed),
        "split_half_seed": seed,
        "source_sha256": source_sha,
        "previous_temperature": payload["meta"].get("temperature"),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "hardware": hardware_description(),
    }
    meta = {**payload["meta"], "temperature": temperature, "calibration": record}
    if measure_int8:
        meta["int8_accuracy"] = int8_accuracy(source, faces, logits, split, data, temperature, batch_size)
    save_atomic({**payload, "meta": meta}, target)
    result = {
        "weights": str(source),
        "out": str(target),
        "out_sha256": file_sha256(target),
        "model": meta.get("model"),
        "command": command,
        "revision": revision,
        "calibration": record,
        "int8_accuracy": meta.get("int8_accuracy"),
        "reliability": {
            "before": reliability_bins(calibrated_softmax(logits, None, np.float64), faces.labels),
            "after": reliability_bins(calibrated_softmax(logits, temperature, np.float64), faces.labels),
        },
        "report_dir": str(folder),
        "files": {role: path.name for role, path in paths.items()},
    }
    write_calibration_report(paths, result)
    return result


def gru_cnn_sha256(gru_path: str | os.PathLike) -> str:
    """The sha256 of the CNN the temporal GRU at ``gru_path`` is tied to."""
    return str(load_checkpoint(gru_path)["meta"].get("cnn_sha256", ""))


def retarget_gru(gru_path: str | os.PathLike, trained_cnn_sha256: str, calibrated_cnn: str | os.PathLike) -> str:
    """Point the GRU at ``gru_path`` (trained on the CNN whose sha256 is ``trained_cnn_sha256``)
    at ``calibrated_cnn``, its calibrated copy, in place: ``meta["cnn_sha256"]`` becomes the copy's
    and ``meta["cnn_retarget"]`` keeps the one it was trained on. Its weights are unchanged. The CNN's
    embeddings are the same, its probabilities (a GRU input) are now calibrated: retraining the
    GRU (``fer-video train-temporal``) is still due. Returns the new sha256."""
    source = Path(gru_path)
    payload = load_checkpoint(source)
    meta, new_sha = payload["meta"], file_sha256(calibrated_cnn)
    if meta.get("cnn_sha256") == new_sha:
        return new_sha
    if meta.get("cnn_sha256") != trained_cnn_sha256:
        raise ValueError(
            f"{source} was not trained on the CNN that was calibrated (its cnn_sha256 differs); retrain it instead"
        )
    earlier = meta.get("cnn_retarget") or {}
    retarget = {
        "trained_on_cnn_sha256": earlier.get("trained_on_cnn_sha256", trained_cnn_sha256),
        "why": "the CNN was calibrated: softmax temperature only, weights and embeddings unchanged; "
        "retrain with `fer-video train-temporal` on the calibrated CNN",
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    save_atomic({**payload, "meta": {**meta, "cnn_sha256": new_sha, "cnn_retarget": retarget}}, source)
    return new_sha
