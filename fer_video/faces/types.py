"""The detection result every face detector returns, and the detector interface."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

#: Order of the five landmarks in :attr:`FaceDetections.landmarks`.
LANDMARK_NAMES: tuple[str, ...] = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclass
class FaceDetections:
    """One image's faces, sorted left to right by box ``x1``.

    ``boxes`` (N, 4) float32 ``x1, y1, x2, y2`` in original image pixels; ``scores`` (N,)
    float32; ``landmarks`` (N, 5, 2) float32 ``x, y`` in :data:`LANDMARK_NAMES` order
    (NaN when the detector gives none, e.g. Haar).
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def empty(cls) -> FaceDetections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32))

    @classmethod
    def from_arrays(cls, boxes: np.ndarray, scores: np.ndarray, landmarks: np.ndarray | None = None) -> FaceDetections:
        """Build from raw detector output (any float dtype, any order); sorts left to right."""
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        scores = np.asarray(scores, np.float32).reshape(-1)
        if landmarks is None:
            landmarks = np.full((len(boxes), 5, 2), np.nan, np.float32)
        landmarks = np.asarray(landmarks, np.float32).reshape(-1, 5, 2)
        order = np.argsort(boxes[:, 0], kind="stable")
        return cls(boxes[order], scores[order], landmarks[order])

    def scaled(self, factor: float) -> FaceDetections:
        """Boxes and landmarks multiplied by ``factor`` (maps detection-scale coordinates back)."""
        return FaceDetections(self.boxes * factor, self.scores.copy(), self.landmarks * factor)

    def mapped(self, matrix: np.ndarray) -> FaceDetections:
        """Boxes and landmarks carried through the 2 x 3 affine ``matrix`` (e.g. from a zoomed,
        cut or turned copy of an image back to the image): each box becomes the axis-aligned
        box around its four mapped corners; re-sorted left to right."""
        matrix = np.asarray(matrix, np.float32)
        corners = np.stack([self.boxes[:, pair] for pair in ([0, 1], [2, 1], [0, 3], [2, 3])], axis=1)
        corners = corners @ matrix[:, :2].T + matrix[:, 2]
        boxes = np.concatenate([corners.min(1), corners.max(1)], axis=1)
        return FaceDetections.from_arrays(boxes, self.scores, self.landmarks @ matrix[:, :2].T + matrix[:, 2])

    def select(self, keep: np.ndarray) -> FaceDetections:
        """The faces where the boolean mask ``keep`` is true (order kept)."""
        return FaceDetections(self.boxes[keep], self.scores[keep], self.landmarks[keep])

    def filtered(self, min_size: float, min_score: float) -> FaceDetections:
        """Faces whose longer box side (the face's height, for MTCNN) is at least ``min_size``
        and whose score is at least ``min_score``."""
        sides = np.maximum(self.boxes[:, 2] - self.boxes[:, 0], self.boxes[:, 3] - self.boxes[:, 1])
        return self.select((sides >= min_size) & (self.scores >= min_score))


class FaceDetector(Protocol):
    """Finds faces in RGB uint8 images (H, W, 3); one :class:`FaceDetections` per image."""

    def detect(self, images: Sequence[np.ndarray]) -> list[FaceDetections]: ...
