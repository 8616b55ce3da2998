"""Score the whole photo path (detection, alignment, CNN) on labelled photos, as users run it.

FER2013's crops say how the CNN does on faces already found and framed; photos from the wild also
test the detector. Each photo counts once: its largest face is its answer, and a photo where no face
is found counts as wrong in the end-to-end recall (and apart, as the no-face rate).

Labelled photos come as an image folder (``<label>/*.jpg``, as FER2013, RAF-DB or AffectNet exports
are laid out; subfolders of a label's folder count) or a CSV with columns ``file`` (relative to the
CSV's folder) and ``label``. Label names are matched without case, with the usual synonyms
(``anger``, ``happiness``, ``surprised``, ...); labels outside the 7 classes (``contempt``) are
counted and skipped.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fer_video.constants import CLASSES
from fer_video.evaluate.clip_crops import read_file_labels
from fer_video.evaluate.metrics import classification_metrics
from fer_video.imaging import IMAGE_SUFFIXES
from fer_video.recognizer import EmotionRecognizer, FaceResult, recognise_files

#: Other names data sets give the 7 classes (lower case).
LABEL_SYNONYMS: dict[str, str] = {
    "anger": "angry",
    "disgusted": "disgust",
    "fearful": "fear",
    "scared": "fear",
    "happiness": "happy",
    "joy": "happy",
    "neutrality": "neutral",
    "sadness": "sad",
    "surprised": "surprise",
}
NO_FACE = "no face"
PREDICTION_COLUMNS = ("file", "label", "faces", "predicted", "confidence", "error")


@dataclass
class LabelledPhotos:
    """``files`` and their ``labels`` (one of :data:`CLASSES`), and how many photos each label outside
    the classes had (``skipped``)."""

    files: list[Path]
    labels: list[str]
    skipped: dict[str, int]


def class_of(name: str) -> str | None:
    """The class a data set's label ``name`` means, or ``None`` when it is none of the 7."""
    label = name.strip().lower()
    label = LABEL_SYNONYMS.get(label, label)
    return label if label in CLASSES else None


def read_labelled_photos(source: str | os.PathLike) -> LabelledPhotos:
    """The labelled photos of an image folder (``<label>/...``) or a ``file,label`` CSV."""
    path = Path(source)
    if path.is_dir():
        pairs = [
            (file, folder.name)
            for folder in sorted(p for p in path.iterdir() if p.is_dir())
            for file in sorted(folder.rglob("*"))
            if file.is_file() and file.suffix.lower() in IMAGE_SUFFIXES
        ]
    elif path.is_file():
        pairs = read_file_labels(path)
    else:
        raise FileNotFoundError(f"labelled photos not found: {path} (give a folder of <label>/ folders or a CSV)")
    files, labels, skipped = [], [], Counter()
    for file, name in pairs:
        label = class_of(name)
        if label is None:
            skipped[name] += 1
        else:
            files.append(file)
            labels.append(label)
    if not files:
        raise ValueError(f"{path}: no photo is labelled with one of {', '.join(CLASSES)}")
    return LabelledPhotos(files, labels, dict(skipped))


def largest_face(faces: Sequence[FaceResult]) -> FaceResult | None:
    """The face with the largest box (a labelled photo's subject), ``None`` for no face."""
    if not faces:
        return None
    return max(faces, key=lambda face: (face.box[2] - face.box[0]) * (face.box[3] - face.box[1]))


def predict_photos(
    recognizer: EmotionRecognizer, photos: LabelledPhotos, batch_size: int = 8, progress: bool = True
) -> pd.DataFrame:
    """One row per photo: ``file, label, faces, predicted`` (:data:`NO_FACE` where none was found,
    ``""`` where the file could not be read), ``confidence`` and ``error``."""
    from tqdm import tqdm

    rows = []
    outcomes = recognise_files(recognizer, photos.files, batch_size)
    bar = tqdm(outcomes, total=len(photos.files), unit="photo", disable=not progress, file=sys.stderr)
    for index, file, _, outcome in bar:
        row = {"file": str(file), "label": photos.labels[index], "faces": 0, "predicted": "", "confidence": np.nan}
        if isinstance(outcome, str):
            row["error"] = outcome
        else:
            face = largest_face(outcome)
            row["faces"] = len(outcome)
            row["predicted"] = NO_FACE if face is None else face.label
            row["confidence"] = np.nan if face is None else face.confidence
        rows.append(row)
    return pd.DataFrame(rows, columns=PREDICTION_COLUMNS).fillna({"error": ""})


def photo_metrics(predictions: pd.DataFrame, skipped: dict[str, int] | None = None) -> dict[str, Any]:
    """No-face rate, end-to-end recall per class (no face = wrong) and, on the photos with a face,
    :func:`~fer_video.evaluate.metrics.classification_metrics` (``None`` when no face was found at all);
    unreadable photos are left out of all."""
    readable = predictions[predictions["error"] == ""]
    found = readable[readable["predicted"] != NO_FACE]
    per_class = {}
    for name in CLASSES:
        mine = readable[readable["label"] == name]
        per_class[name] = {
            "photos": int(len(mine)),
            "no_face_rate": _share(mine["predicted"] == NO_FACE),
            "recall_end_to_end": _share(mine["predicted"] == name),
        }
    index = {name: i for i, name in enumerate(CLASSES)}
    return {
        "photos": int(len(predictions)),
        "unreadable": int(len(predictions) - len(readable)),
        "skipped_labels": dict(skipped or {}),
        "no_face_rate": _share(readable["predicted"] == NO_FACE),
        "accuracy_end_to_end": _share(readable["predicted"] == readable["label"]),
        "per_class": per_class,
        "faces_found": None if found.empty else classification_metrics(
            found["label"].map(index).to_numpy(dtype=np.int64), found["predicted"].map(index).to_numpy(dtype=np.int64)
        ),
    }


def render_photo_report(result: dict[str, Any]) -> str:
    """Markdown: what was scored, the totals, and a row per class."""
    metrics = result["metrics"]
    found = metrics["faces_found"]
    lines = [
        "# Emotions on labelled photos: detection, alignment and CNN together",
        "",
        f"- Photos: `{result['source']}`; {metrics['photos']} in the 7 classes, {metrics['unreadable']} unreadable"
        f"{_skipped(metrics['skipped_labels'])}",
        f"- Model: {result['model']} (`{result['weights']}`), backend {result['backend']}, detector "
        f"{result['detector']}; {result['date']}, commit {result['commit']}, {result['machine']}",
        f"- Command: `{result['command']}`",
        "",
        f"No face found on **{_percent(metrics['no_face_rate'])}** of the photos. End-to-end accuracy (no face = "
        f"wrong): **{_percent(metrics['accuracy_end_to_end'])}**; "
        + (
            "no face was found on any photo."
            if found is None
            else f"on the {found['n_images']} photos with a face: accuracy {_percent(found['accuracy'])}, "
            f"macro-F1 {found['macro_f1']:.3f}."
        ),
        "",
        "| class | photos | no face | recall (no face = wrong) | recall (faces found) | precision (faces found) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in CLASSES:
        mine = metrics["per_class"][name]
        scored = found["per_class"][name] if found else {"support": 0, "recall": np.nan, "precision": np.nan}
        lines.append(
            f"| {name} | {mine['photos']} | {_percent(mine['no_face_rate'])} | {_fraction(mine['recall_end_to_end'])} "
            f"| {_fraction(scored['recall']) if scored['support'] else ''} | {_fraction(scored['precision'])} |"
        )
    matrix = "" if found is None else "; confusion matrix of the photos with a face: `confusion_matrix.png`"
    lines += ["", f"Per photo: `predictions.csv`{matrix}."]
    return "\n".join(lines) + "\n"


def _skipped(counts: dict[str, int]) -> str:
    return "; skipped labels: " + ", ".join(f"{name} ({count})" for name, count in counts.items()) if counts else ""


def _share(hits: pd.Series) -> float:
    """The share of true values; NaN for none."""
    return float(hits.mean()) if len(hits) else float("nan")


def _percent(value: float) -> str:
    return "" if np.isnan(value) else f"{100 * value:.1f} %"


def _fraction(value: float) -> str:
    return "" if np.isnan(value) else f"{value:.3f}"
