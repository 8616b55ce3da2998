"""``EmotionRecognizer``: the one object users hold: photos or frames in, one result per face out.

``EmotionRecognizer().predict("group.jpg")`` (a path, PIL image or RGB array) gives one
:class:`FaceResult` per face, left to right: box, detection score, landmarks, probability per
emotion, top label and confidence. The shipped CNN and MTCNN are used by default, on CUDA when
there is one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fer_video.classifier import CropClassifier
from fer_video.constants import CLASSES
from fer_video.device import resolve_device_name
from fer_video.faces import (
    DEFAULT_MARGIN,
    DEFAULT_PHOTO_SEARCH,
    FaceDetections,
    PhotoSearch,
    align_faces,
    create_detector,
    detect_photos,
    whole_image_crop,
)
from fer_video.imaging import ImageLoadError, ImageSource, load_image
from fer_video.pretrained import DEFAULT_MODEL, load_classifier

if TYPE_CHECKING:
    import pandas as pd
    import torch


@dataclass
class FaceResult:
    """One face: where it is and what it shows.

    ``box`` x1, y1, x2, y2 in image pixels; ``score`` the detection score (1.0 for faces given
    as crops); ``landmarks`` (5, 2) eyes, nose, mouth corners (NaN when unknown);
    ``probabilities`` per emotion in :attr:`EmotionRecognizer.classes` order; ``label`` the top
    emotion and ``confidence`` its probability; ``embedding`` (D,) the CNN features.
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray
    probabilities: dict[str, float]
    label: str
    confidence: float
    embedding: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (no embedding; unknown landmarks are ``None``)."""
        landmarks = None if np.isnan(self.landmarks).any() else np.round(self.landmarks, 1).tolist()
        return {
            "box": [round(float(v), 1) for v in self.box],
            "score": round(float(self.score), 4),
            "landmarks": landmarks,
            "label": self.label,
            "confidence": round(float(self.confidence), 4),
            "probabilities": {name: round(float(p), 4) for name, p in self.probabilities.items()},
        }


def _face_results(
    detections: FaceDetections, probabilities: np.ndarray, embeddings: np.ndarray, classes: Sequence[str]
) -> list[FaceResult]:
    results = []
    for i in range(len(detections)):
        top = int(np.argmax(probabilities[i]))
        results.append(
            FaceResult(
                box=tuple(float(v) for v in detections.boxes[i]),
                score=float(detections.scores[i]),
                landmarks=detections.landmarks[i],
                probabilities={name: float(p) for name, p in zip(classes, probabilities[i])},
                label=classes[top],
                confidence=float(probabilities[i, top]),
                embedding=embeddings[i],
            )
        )
    return results


class EmotionRecognizer:
    """Face detection + alignment + the emotion CNN, batched end to end.

    ``model`` names the shipped model (``standard`` or ``fast``, see
    :data:`fer_video.pretrained.SHIPPED_MODELS`): its CNN runs unless ``weights`` gives another,
    and video smoothing loads its GRU; ``detector`` is ``mtcnn`` or ``haar``; ``margin``
    (default :data:`fer_video.faces.DEFAULT_MARGIN`) is the context kept around each face;
    ``min_face_size`` (pixels at detection scale), ``score_threshold`` and ``max_detect_side``
    (longer side images are shrunk to for detection) tune the detector. ``photo_search``: what
    photos get where the first detection finds no face (zoomed, brightened and turned looks, see
    :mod:`fer_video.faces.photos`; ``None``: nothing more); video frames never get it, nor does the
    Haar detector (its boxes have no score to hold the looks' false faces back).
    ``backend`` runs the CNN: ``auto`` (ONNX Runtime on the CPU when installed, PyTorch on CUDA),
    ``torch``, ``onnx`` or ``onnx-int8`` (see :mod:`fer_video.backends`).
    """

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        model: str = DEFAULT_MODEL,
        detector: str = "mtcnn",
        device: str | torch.device = "auto",
        margin: float | None = None,
        min_face_size: int = 40,
        score_threshold: float = 0.9,
        max_detect_side: int = 640,
        backend: str = "auto",
        photo_search: PhotoSearch | None = DEFAULT_PHOTO_SEARCH,
    ) -> None:
        self.margin = DEFAULT_MARGIN if margin is None else float(margin)
        if not -0.4 <= self.margin <= 2:
            raise ValueError(f"margin must be between -0.4 and 2 (a fraction of the face box), got {self.margin}")
        self.device_name = resolve_device_name(device)
        self.model = model
        self.classifier: CropClassifier = load_classifier(weights, self.device_name, backend=backend, model=model)
        self.detector = create_detector(detector, self.device_name, min_face_size, score_threshold, max_detect_side)
        self.photo_search = photo_search if detector == "mtcnn" else None

    @property
    def device(self) -> torch.device:
        """Where the PyTorch parts (the GRU, a ``torch`` backend) run (imports PyTorch)."""
        import torch

        return torch.device(self.device_name)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.classifier.classes

    @property
    def input_size(self) -> int:
        """Side of the square grayscale crop the CNN takes."""
        return self.classifier.preprocess.input_size

    def predict(self, image: ImageSource, detect: bool = True) -> list[FaceResult]:
        """One result per face, left to right (an empty list when there is none). With
        ``detect=False`` the whole image is taken as one face crop."""
        return self.predict_batch([image], detect=detect)[0]

    def predict_batch(self, images: Sequence[ImageSource], detect: bool = True) -> list[list[FaceResult]]:
        """:meth:`predict` for many images at once (batched detection and classification)."""
        return self.predict_frames([load_image(image) for image in images], detect=detect)

    def predict_frames(self, frames: Sequence[np.ndarray], detect: bool = True) -> list[list[FaceResult]]:
        """Results for RGB uint8 photos (H, W, 3): detection batched over all photos
        (:meth:`detect_faces`), then one batched classification of every aligned face. With
        ``detect=False`` each frame is one face crop and its box is the whole frame."""
        if not frames:
            return []
        if not detect:
            return self._predict_whole_frames(frames)
        detections = self.detect_faces(frames)
        crops = [align_faces(frame, found, self.input_size, self.margin) for frame, found in zip(frames, detections)]
        probabilities, embeddings = self.classifier.predict(np.concatenate(crops))
        results, start = [], 0
        for found in detections:
            end = start + len(found)
            results.append(_face_results(found, probabilities[start:end], embeddings[start:end], self.classes))
            start = end
        return results

    def detect_faces(self, photos: Sequence[np.ndarray]) -> list[FaceDetections]:
        """The faces of RGB uint8 photos (H, W, 3): the detector, then :attr:`photo_search`'s looks
        for the photos where it found none (the video path calls ``detector.detect`` alone)."""
        if self.photo_search is None:
            return self.detector.detect(photos)
        return detect_photos(self.detector, photos, self.photo_search)

    def _predict_whole_frames(self, frames: Sequence[np.ndarray]) -> list[list[FaceResult]]:
        results = self.classify_crops(np.stack([whole_image_crop(frame, self.input_size) for frame in frames]))
        return [
            [replace(result, box=(0.0, 0.0, float(frame.shape[1]), float(frame.shape[0])))]
            for result, frame in zip(results, frames)
        ]

    def classify_crops(self, crops: np.ndarray) -> list[FaceResult]:
        """Results for face crops already cut out, uint8 (N, H, W) gray or (N, H, W, 3) RGB; no
        detection: each box is the whole crop, with score 1.0."""
        crops = np.asarray(crops)
        if crops.dtype != np.uint8 or crops.ndim not in (3, 4) or (crops.ndim == 4 and crops.shape[-1] != 3):
            raise ValueError(f"crops must be uint8 (N, H, W) or (N, H, W, 3), got {crops.dtype} {crops.shape}")
        count, height, width = crops.shape[:3]
        detections = FaceDetections.from_arrays(np.tile([0.0, 0.0, width, height], (count, 1)), np.ones(count))
        probabilities, embeddings = self.classifier.predict(crops)
        return _face_results(detections, probabilities, embeddings, self.classes)


def recognise_files(
    recognizer: EmotionRecognizer, files: Sequence[Path], batch_size: int, detect: bool = True
) -> Iterator[tuple[int, Path, np.ndarray | None, list[FaceResult] | str]]:
    """``(index, file, image, faces)`` per file, ``batch_size`` files inferred together; a file
    that cannot be loaded gives ``(index, file, None, error message)`` instead."""
    for start in range(0, len(files), batch_size):
        loaded = []
        for index, file in enumerate(files[start : start + batch_size], start):
            try:
                loaded.append((index, file, load_image(file)))
            except ImageLoadError as error:
                yield index, file, None, str(error)
        results = recognizer.predict_frames([frame for _, _, frame in loaded], detect=detect)
        for (index, file, frame), faces in zip(loaded, results):
            yield index, file, frame, faces


def results_table(
    named_results: Sequence[tuple[str, Sequence[FaceResult]]], classes: Sequence[str] = CLASSES
) -> pd.DataFrame:
    """One row per face: ``file, face, x1, y1, x2, y2, score``, one probability column per
    emotion, ``label, confidence``; images without faces add no row."""
    import pandas as pd

    columns = ["file", "face", "x1", "y1", "x2", "y2", "score", *classes, "label", "confidence"]
    rows = [
        [
            name,
            index,
            *result.box,
            result.score,
            *(result.probabilities[c] for c in classes),
            result.label,
            result.confidence,
        ]
        for name, results in named_results
        for index, result in enumerate(results)
    ]
    return pd.DataFrame(rows, columns=columns)
