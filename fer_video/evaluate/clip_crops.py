"""Score a CNN checkpoint on the face crops of labelled real video clips.

The crops are cut once with the project's own detector and aligner (largest face per analysed
frame, :func:`fer_video.faces.align_faces` at the recognizer's margin) and cached as an ``.npz``
in ``<cache>/clip_crops/``, keyed by the clip files' contents and labels and by the detection and
alignment settings; scoring a checkpoint afterwards only runs its CNN. Every analysed frame gets
a full detection (``fer-video video`` re-checks tracked faces between full detections, so its
crops can differ slightly), and no temporal smoothing is applied: this scores the CNN alone.

::

    from fer_video.evaluate.clip_crops import clip_crops, score_crops
    crops = clip_crops("../shared/data/real_video/labels.csv")
    result = score_crops(crops, "runs/cpu_fast_robust_ft/epoch_005.pt")
    result.summary["mean_clip_frame_accuracy"], result.clips

The labels file is a CSV with columns ``file`` (relative to the CSV's folder) and ``label``;
labels outside :data:`fer_video.constants.CLASSES` (e.g. ``contempt``) are skipped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fer_video.cache import cache_dir
from fer_video.checkpoint import file_sha256
from fer_video.constants import CLASSES, FER_IMAGE_SIZE
from fer_video.evaluate.outputs import atomic_path

if TYPE_CHECKING:
    from fer_video.classifier import CropClassifier
    from fer_video.faces import FaceDetections

logger = logging.getLogger(__name__)

#: Bumped when the cached arrays change meaning or how they are made (2: frames above 1080p cut at 1080p).
_CACHE_VERSION = 2


@dataclass(frozen=True)
class CropSettings:
    """How the faces are found and framed: the recognizer's defaults unless told otherwise."""

    fps: float = 10.0  # frames analysed per second (0: every frame), as ``fer-video video --fps``
    detector: str = "mtcnn"
    min_face_size: int = 40
    score_threshold: float = 0.9
    max_detect_side: int = 640
    margin: float | None = None  # None: fer_video.faces.DEFAULT_MARGIN
    input_size: int = FER_IMAGE_SIZE

    def resolved(self) -> CropSettings:
        from fer_video.faces import DEFAULT_MARGIN

        margin = DEFAULT_MARGIN if self.margin is None else float(self.margin)
        return CropSettings(**{**asdict(self), "margin": margin})


@dataclass
class ClipCrops:
    """The aligned crops of every clip: ``crops`` (N, S, S) uint8, ``clip`` (N,) the clip each
    crop comes from, ``frame`` (N,) its frame index; per clip: ``files``, ``labels`` (``""`` for
    unlabelled video) and ``frames_analysed`` (frames with and without a face)."""

    crops: np.ndarray
    clip: np.ndarray
    frame: np.ndarray
    files: list[str]
    labels: list[str]
    frames_analysed: np.ndarray
    settings: CropSettings
    cache_path: Path | None = None


@dataclass
class CropScores:
    """One checkpoint's scores: ``clips`` one row per clip, ``summary`` the means over clips."""

    clips: list[dict[str, Any]]
    summary: dict[str, Any]


def read_file_labels(labels_csv: str | os.PathLike) -> list[tuple[Path, str]]:
    """(file path, label) for every row of a CSV with columns ``file`` (relative to the CSV's folder) and
    ``label``, whatever the label (surrounding spaces removed)."""
    import pandas as pd

    path = Path(labels_csv)
    if not path.is_file():
        raise FileNotFoundError(f"labels file not found: {path}")
    table = pd.read_csv(path)
    missing = {"file", "label"} - set(table.columns)
    if missing:
        raise ValueError(f"{path}: needs columns 'file' and 'label' (missing {sorted(missing)})")
    return [(path.parent / str(row.file), str(row.label).strip()) for row in table.itertuples()]


def read_labels(labels_csv: str | os.PathLike) -> list[tuple[Path, str]]:
    """(clip path, label) for every row of ``labels_csv`` whose label is one of the 7 classes."""
    path = Path(labels_csv)
    rows = [(clip, label) for clip, label in read_file_labels(path) if label in CLASSES]
    if not rows:
        raise ValueError(f"{path}: no clip is labelled with one of {', '.join(CLASSES)}")
    absent = [str(clip) for clip, _ in rows if not clip.is_file()]
    if absent:
        raise FileNotFoundError(f"{len(absent)} clip(s) listed in {path} not found, e.g. {absent[0]}")
    return rows


def _cache_key(rows: list[tuple[Path, str]], settings: CropSettings) -> str:
    digest = hashlib.sha256(json.dumps({"version": _CACHE_VERSION, **asdict(settings)}, sort_keys=True).encode())
    for clip, label in rows:
        digest.update(f"{file_sha256(clip)}:{label};".encode())
    return digest.hexdigest()[:32]


def clip_crops(
    labels_csv: str | os.PathLike,
    settings: CropSettings = CropSettings(),
    device: str = "cpu",
    progress: bool = False,
) -> ClipCrops:
    """The crops of the clips in ``labels_csv``, from the cache or extracted now (and cached)."""
    return _cached_crops(read_labels(labels_csv), settings, device, progress)


def video_crops(
    specs: Sequence[str],
    settings: CropSettings = CropSettings(),
    device: str = "cpu",
    progress: bool = False,
) -> ClipCrops:
    """The crops of unlabelled clips (each spec a folder of videos or a glob pattern, as
    ``fer-video eval-video`` takes them; their ``labels`` are ``""``), from the cache or extracted
    now (and cached) as :func:`clip_crops` does."""
    from fer_video.video.evaluation import read_clip_set

    clips: list[Path] = []
    for spec in specs:
        clips += [clip for clip, _ in read_clip_set(str(spec), CLASSES).clips if clip not in clips]
    return _cached_crops([(clip, "") for clip in clips], settings, device, progress)


def _cached_crops(rows: list[tuple[Path, str]], settings: CropSettings, device: str, progress: bool) -> ClipCrops:
    settings = settings.resolved()
    path = cache_dir() / "clip_crops" / f"{_cache_key(rows, settings)}.npz"
    if path.is_file():
        with np.load(path) as stored:
            return ClipCrops(
                stored["crops"], stored["clip"], stored["frame"], [str(c) for c, _ in rows],
                [label for _, label in rows], stored["frames_analysed"], settings, path,
            )
    crops = _extract(rows, settings, device, progress)
    with atomic_path(path) as partial:
        np.savez_compressed(
            partial, crops=crops.crops, clip=crops.clip, frame=crops.frame, frames_analysed=crops.frames_analysed
        )
    crops.cache_path = path
    return crops


def _extract(rows: list[tuple[Path, str]], settings: CropSettings, device: str, progress: bool) -> ClipCrops:
    from tqdm.auto import tqdm

    from fer_video.faces import align_faces, create_detector
    from fer_video.video.decode import VideoSource
    from fer_video.video.errors import VideoError

    detector = create_detector(
        settings.detector, device, settings.min_face_size, settings.score_threshold, settings.max_detect_side
    )
    crops, clip_of, frame_of, analysed = [], [], [], []
    for index, (clip, _) in enumerate(tqdm(rows, desc="clips", unit="clip", disable=not progress)):
        try:
            video = VideoSource(clip)
        except VideoError as error:  # an unreadable clip counts as one without faces; the others go on
            logger.warning("%s", error)
            analysed.append(0)
            continue
        with video:
            frames_at = video.analysis_indices(settings.fps)
            analysed.append(len(frames_at))
            for start in range(0, len(frames_at), 32):
                chunk = frames_at[start : start + 32]
                try:
                    frames = video.read(chunk)
                except VideoError as error:
                    logger.warning("%s", error)
                    break
                for frame_index, frame, found in zip(chunk, frames, detector.detect(list(frames))):
                    if len(found):
                        crops.append(align_faces(frame, _largest(found), settings.input_size, settings.margin)[0])
                        clip_of.append(index)
                        frame_of.append(int(frame_index))
    size = settings.input_size
    return ClipCrops(
        np.stack(crops) if crops else np.zeros((0, size, size), np.uint8),
        np.asarray(clip_of, np.int64),
        np.asarray(frame_of, np.int64),
        [str(c) for c, _ in rows],
        [label for _, label in rows],
        np.asarray(analysed, np.int64),
        settings,
    )


def _largest(found: FaceDetections) -> FaceDetections:
    """The face with the longest box side."""
    sides = np.maximum(found.boxes[:, 2] - found.boxes[:, 0], found.boxes[:, 3] - found.boxes[:, 1])
    return found.select(np.arange(len(found)) == int(np.argmax(sides)))


def score_probabilities(crops: ClipCrops, probabilities: np.ndarray) -> CropScores:
    """Per-clip frame accuracy, dominant label (argmax of the mean probability over the clip's
    frames) and predicted-label counts, from the probabilities (N, 7) of ``crops.crops``."""
    predicted = probabilities.argmax(axis=1)
    clips = []
    for index, (file, label) in enumerate(zip(crops.files, crops.labels)):
        mine = crops.clip == index
        counts = np.bincount(predicted[mine], minlength=len(CLASSES))
        row: dict[str, Any] = {
            "file": Path(file).name,
            "label": label,
            "frames_analysed": int(crops.frames_analysed[index]),
            "frames_with_face": int(mine.sum()),
            "frame_accuracy": float("nan"),
            "dominant": "",
            "dominant_correct": False,
            "true_class_prob": float("nan"),
        }
        if mine.any():
            mean = probabilities[mine].mean(axis=0)
            true = CLASSES.index(label)
            row.update(
                frame_accuracy=float(counts[true] / mine.sum()),
                dominant=CLASSES[int(mean.argmax())],
                dominant_correct=bool(mean.argmax() == true),
                true_class_prob=float(mean[true]),
            )
        row["predicted_counts"] = {name: int(count) for name, count in zip(CLASSES, counts) if count}
        clips.append(row)
    scored = [row for row in clips if row["frames_with_face"]]
    summary = {
        "clips": len(clips),
        "clips_with_faces": len(scored),
        "crops": int(len(predicted)),
        "mean_clip_frame_accuracy": float(np.mean([r["frame_accuracy"] for r in scored])) if scored else float("nan"),
        "pooled_frame_accuracy": (
            float(np.mean(predicted == np.array([CLASSES.index(crops.labels[c]) for c in crops.clip])))
            if len(predicted)
            else float("nan")
        ),
        "dominant_accuracy": float(np.mean([r["dominant_correct"] for r in scored])) if scored else float("nan"),
        "mean_true_class_prob": float(np.mean([r["true_class_prob"] for r in scored])) if scored else float("nan"),
    }
    return CropScores(clips, summary)


def crops_classifier(
    crops: ClipCrops, weights: str | os.PathLike, device: str = "cpu", flip_tta: bool = False
) -> CropClassifier:
    """The CNN in ``weights`` (run with PyTorch), checked to predict the 7 classes from crops of ``crops``' size."""
    from fer_video.classifier import CropClassifier

    classifier = CropClassifier.from_file(str(weights), device=device, flip_tta=flip_tta, backend="torch")
    if tuple(classifier.classes) != CLASSES:
        raise ValueError(f"{weights}: classes {classifier.classes} are not {CLASSES}")
    if classifier.preprocess.input_size != crops.settings.input_size:
        raise ValueError(
            f"{weights} takes {classifier.preprocess.input_size} px crops; these are {crops.settings.input_size} px"
        )
    return classifier


def score_crops(
    crops: ClipCrops, weights: str | os.PathLike, device: str = "cpu", flip_tta: bool = False
) -> CropScores:
    """:func:`score_probabilities` for the CNN in ``weights`` (run with PyTorch)."""
    classifier = crops_classifier(crops, weights, device, flip_tta)
    if len(crops.crops) == 0:
        return score_probabilities(crops, np.zeros((0, len(CLASSES)), np.float32))
    return score_probabilities(crops, classifier.predict_proba(crops.crops))


SUMMARY_COLUMNS = (
    "crops", "mean_clip_frame_accuracy", "pooled_frame_accuracy", "dominant_accuracy", "mean_true_class_prob"
)


def summary_markdown(scores: dict[str, CropScores]) -> str:
    """One row per scored checkpoint (name -> scores), the columns of :data:`SUMMARY_COLUMNS`."""
    lines = ["| checkpoint | " + " | ".join(SUMMARY_COLUMNS) + " |", "|---" + "|---:" * len(SUMMARY_COLUMNS) + "|"]
    for name, result in scores.items():
        values = [result.summary[column] for column in SUMMARY_COLUMNS]
        lines.append(f"| {name} | " + " | ".join(_cell(v) for v in values) + " |")
    return "\n".join(lines) + "\n"


def clips_markdown(result: CropScores) -> str:
    """One row per clip: label, frames, frame accuracy, dominant label, the labels predicted."""
    lines = [
        "| clip | label | frames (with face) | frame accuracy | dominant | predicted labels |",
        "|---|---|---:|---:|---|---|",
    ]
    for row in result.clips:
        ranked = sorted(row["predicted_counts"].items(), key=lambda item: -item[1])
        counts = ", ".join(f"{name} {count}" for name, count in ranked)
        dominant = row["dominant"] + ("" if row["dominant_correct"] else " (wrong)")
        lines.append(
            f"| {row['file']} | {row['label']} | {row['frames_analysed']} ({row['frames_with_face']}) | "
            f"{_cell(row['frame_accuracy'])} | {dominant} | {counts} |"
        )
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)
