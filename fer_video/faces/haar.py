"""OpenCV Haar-cascade face detector: a light fallback with boxes only (no landmarks, no score)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from fer_video.faces.scaling import downscale_for_detection
from fer_video.faces.types import FaceDetections

CASCADE_FILE = "haarcascade_frontalface_default.xml"


class HaarDetector:
    """Frontal-face Haar cascade on a downscaled grayscale copy of each image.

    The cascade has no calibrated confidence: every face it keeps gets score 1.0 and
    ``min_neighbors`` is its strictness knob; landmarks are NaN, so faces are not rotated.
    """

    def __init__(self, min_face_size: int = 40, max_detect_side: int = 640, min_neighbors: int = 5) -> None:
        path = Path(cv2.data.haarcascades) / CASCADE_FILE
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise RuntimeError(f"cannot load the OpenCV Haar cascade {path}")
        self.min_face_size = min_face_size
        self.max_detect_side = max_detect_side
        self.min_neighbors = min_neighbors

    def detect(self, images: Sequence[np.ndarray]) -> list[FaceDetections]:
        return [self._detect_one(image) for image in images]

    def _detect_one(self, image: np.ndarray) -> FaceDetections:
        small, factor = downscale_for_detection(image, self.max_detect_side)
        gray = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
        size = (self.min_face_size, self.min_face_size)
        rects = self.cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=self.min_neighbors, minSize=size)
        if len(rects) == 0:
            return FaceDetections.empty()
        rects = np.asarray(rects, np.float32)
        boxes = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1)
        return FaceDetections.from_arrays(boxes, np.ones(len(boxes), np.float32)).scaled(factor)
