"""Score a checkpoint on a FER2013 split: :func:`evaluate_checkpoint` writes metrics, confusion
matrices and a report; :func:`evaluate_predictions` computes the metrics of given probabilities."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fer_video.checkpoint import hardware_description
from fer_video.constants import CLASSES
from fer_video.data import load_fer2013, require_fer2013_path
from fer_video.evaluate.metrics import (
    SUBSET_3CLASS,
    classification_metrics,
    subset_metrics,
)
from fer_video.evaluate.outputs import check_overwrite
from fer_video.evaluate.plots import read_training_logs
from fer_video.evaluate.report import output_paths, write_evaluation
from fer_video.evaluate.tta import TTA_MODES, predict_proba
from fer_video.pretrained import default_cnn_path, load_classifier
from fer_video.train.loop import data_fingerprint


def evaluate_predictions(probs: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """7-class metrics of ``probs.argmax(1)`` and the happy/sad/neutral subset metrics."""
    return {
        "metrics": classification_metrics(labels, probs.argmax(axis=1)),
        "subset_3class": subset_metrics(probs, labels, SUBSET_3CLASS),
    }


def evaluate_checkpoint(
    weights: str | os.PathLike | None = None,
    data_path: str | os.PathLike | None = None,
    split: str = "publictest",
    tta: str = "none",
    out_dir: str | os.PathLike | None = None,
    device: str = "auto",
    logs: Sequence[str | os.PathLike] = (),
    overwrite: bool = False,
    batch_size: int = 256,
) -> dict[str, Any]:
    """Score ``weights`` (default: the shipped CNN) on one FER2013 split and write the results
    to ``out_dir`` (default ``results/<weights stem>``). ``logs`` (the ``log.csv`` of a run, then of
    any runs fine-tuning it) add training curves. Returns what ``metrics.json`` holds."""
    weights_path = Path(weights) if weights else default_cnn_path()
    data = require_fer2013_path(data_path)
    if tta not in TTA_MODES:
        raise ValueError(f"unknown test-time augmentation '{tta}'; expected one of {list(TTA_MODES)}")
    training_log = read_training_logs(logs) if logs else None
    out = Path(out_dir) if out_dir else Path("results") / weights_path.stem
    paths = output_paths(out, training_log is not None)
    check_overwrite(paths.values(), overwrite)

    classifier = load_classifier(weights_path, device=device, backend="torch")  # TTA runs the PyTorch model
    if tuple(classifier.classes) != CLASSES:
        raise ValueError(f"{weights_path} predicts classes {classifier.classes}, expected {CLASSES}")
    faces = load_fer2013(data, splits=[split])[split]
    started = time.perf_counter()
    probs = predict_proba(classifier, faces.images, tta=tta, batch_size=batch_size)
    elapsed = time.perf_counter() - started

    result = {
        "weights": str(weights_path),
        "model": classifier.meta["model"],
        "checkpoint_metrics": classifier.meta.get("metrics", {}),
        "data": str(data),
        "data_sha256": data_fingerprint(data).get("sha256"),
        "split": split,
        "tta": tta,
        "device": str(classifier.device),
        "hardware": hardware_description(),
        "eval_time_s": round(elapsed, 3),
        "images_per_s": round(len(faces) / max(elapsed, 1e-9), 1),
        **evaluate_predictions(probs, faces.labels),
        "out_dir": str(out),
        "files": {role: path.name for role, path in paths.items()},
    }
    write_evaluation(paths, result, probs, faces.labels, training_log)
    return result
