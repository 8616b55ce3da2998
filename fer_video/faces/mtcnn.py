"""MTCNN face detector: boxes, scores and five landmarks, batched; and a cheap re-check of known faces.

The three networks (P-, R-, O-net) and their weights are facenet-pytorch's, and so are the
cascade's thresholds, pyramid and box arithmetic. The cascade itself runs here, in NumPy,
because facenet-pytorch resizes every pyramid level and every candidate window of stages 2 and 3
(hundreds on a busy frame, one torch call each) with torch's slow adaptive pooling; here the
same levels and integer windows are resized with OpenCV's area interpolation on the uint8
images: detection takes about half the CPU time, with the same faces found
(tests/test_faces.py compares the two on a photo). The networks run in ONNX Runtime on the CPU
and in PyTorch on CUDA (:mod:`fer_video.faces.mtcnn_runtime`); the box arithmetic is in
:mod:`fer_video.faces.boxes`. Neither facenet-pytorch's package nor torchvision is imported, and
on the CPU not PyTorch either (seconds of start-up).

:meth:`MTCNNDetector.refine` runs the last stage alone on boxes a tracker expects faces in:
whether each face is still there, with a fresh box, score and landmarks, for a small fraction
of a detection's cost.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np

from fer_video.device import resolve_device_name
from fer_video.faces.boxes import batched_nms, batched_nms_min, bbreg, generate_boxes, rerec
from fer_video.faces.mtcnn_runtime import load_mtcnn_runtime
from fer_video.faces.scaling import downscale_for_detection
from fer_video.faces.types import FaceDetections

if TYPE_CHECKING:
    import torch

#: Candidate score thresholds of the P-, R- and O-net stages (facenet-pytorch's defaults).
STAGE_THRESHOLDS = (0.6, 0.7, 0.7)
#: Ratio between the sides of consecutive pyramid levels.
PYRAMID_FACTOR = 0.709

#: The last stage's output: boxes (K, 5: x1, y1, x2, y2, score), image indices (K,), landmarks (K, 5, 2).
StageOutput = tuple[np.ndarray, np.ndarray, np.ndarray]


def _network_input(batch: np.ndarray) -> np.ndarray:
    """Normalised network input (B, 3, H, W) float32 from uint8 images (B, H, W, 3)."""
    return (batch.transpose(0, 3, 1, 2).astype(np.float32) - np.float32(127.5)) * np.float32(0.0078125)


class MTCNNDetector:
    """Batched MTCNN: images are downscaled to ``max_detect_side``, grouped by size and detected
    ``batch_size`` at a time; boxes come back in original coordinates, filtered by
    ``min_face_size`` (detection-scale pixels; also the smallest face the pyramid looks for)
    and ``score_threshold``."""

    def __init__(
        self,
        device: str | torch.device = "auto",
        min_face_size: int = 40,
        score_threshold: float = 0.9,
        max_detect_side: int = 640,
        batch_size: int = 32,
    ) -> None:
        self.device_name = resolve_device_name(device)
        self.min_face_size = min_face_size
        self.score_threshold = score_threshold
        self.max_detect_side = max_detect_side
        self.batch_size = batch_size
        self.pnet, self.rnet, self.onet = load_mtcnn_runtime(self.device_name)

    def detect(self, images: Sequence[np.ndarray]) -> list[FaceDetections]:
        """Faces of each RGB uint8 image (H, W, 3)."""
        results: list[FaceDetections] = [FaceDetections.empty() for _ in images]
        groups: dict[tuple[int, ...], list[tuple[int, np.ndarray, float]]] = defaultdict(list)
        for index, image in enumerate(images):
            small, factor = downscale_for_detection(image, self.max_detect_side)
            if min(small.shape[:2]) >= self.min_face_size:  # smaller images cannot hold a face that big
                groups[small.shape].append((index, small, factor))
        for members in groups.values():
            for start in range(0, len(members), self.batch_size):
                chunk = members[start : start + self.batch_size]
                found = self._detect_same_size(np.stack([small for _, small, _ in chunk]))
                for (index, _, factor), detections in zip(chunk, found):
                    results[index] = detections.scaled(factor)
        return results

    def refine(self, image: np.ndarray, boxes: np.ndarray) -> FaceDetections:
        """The faces found by the last stage alone in the (squared) ``boxes`` (N, 4, original
        coordinates) of one RGB uint8 image: a face that moved a little comes back with its new
        box, score and landmarks; where there is no face any more, nothing comes back."""
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        if not len(boxes):
            return FaceDetections.empty()
        small, factor = downscale_for_detection(image, self.max_detect_side)
        candidates = np.zeros((len(boxes), 5), np.float32)
        candidates[:, :4] = boxes / np.float32(factor)
        found = self._last_stage(small[None], rerec(candidates), np.zeros(len(boxes), np.int64))
        return self._results(found, 1)[0].scaled(factor)

    def _detect_same_size(self, batch: np.ndarray) -> list[FaceDetections]:
        """Detections at detection scale for a stack of equal-size images (B, H, W, 3)."""
        boxes, image_inds = self._propose(batch)
        if len(boxes):
            boxes, image_inds = self._second_stage(batch, boxes, image_inds)
        return self._results(self._last_stage(batch, boxes, image_inds), len(batch))

    def _propose(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stage 1: P-net over the image pyramid; squared candidate boxes (K, 5) with scores."""
        height, width = images.shape[1:3]
        scale = 12.0 / self.min_face_size
        shortest = min(height, width) * scale
        boxes, image_inds = [], []
        while shortest >= 12:
            size = (int(width * scale + 1), int(height * scale + 1))
            level = np.stack([cv2.resize(image, size, interpolation=cv2.INTER_AREA) for image in images])
            regression, probs = self.pnet(_network_input(level))
            found, inds = generate_boxes(regression, probs[:, 1], scale, STAGE_THRESHOLDS[0])
            keep = batched_nms(found[:, :4], found[:, 4], inds, 0.5)
            boxes.append(found[keep])
            image_inds.append(inds[keep])
            scale, shortest = scale * PYRAMID_FACTOR, shortest * PYRAMID_FACTOR
        boxes, image_inds = np.concatenate(boxes), np.concatenate(image_inds)
        keep = batched_nms(boxes[:, :4], boxes[:, 4], image_inds, 0.7)
        boxes, image_inds = boxes[keep], image_inds[keep]
        width_, height_ = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        moved = np.stack(
            [
                boxes[:, 0] + boxes[:, 5] * width_,
                boxes[:, 1] + boxes[:, 6] * height_,
                boxes[:, 2] + boxes[:, 7] * width_,
                boxes[:, 3] + boxes[:, 8] * height_,
                boxes[:, 4],
            ],
            axis=1,
        )
        return rerec(moved), image_inds

    def _second_stage(
        self, images: np.ndarray, boxes: np.ndarray, image_inds: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Stage 2: R-net on 24 x 24 windows; the survivors' boxes, refined and squared."""
        boxes, image_inds, windows = _windows(images, boxes, image_inds, 24)
        if not len(boxes):
            return boxes, image_inds
        regression, probs = self.rnet(_network_input(windows))
        keep = probs[:, 1] > STAGE_THRESHOLDS[1]
        boxes = np.concatenate([boxes[keep, :4], probs[keep, 1:2]], axis=1)
        image_inds, regression = image_inds[keep], regression[keep]
        pick = batched_nms(boxes[:, :4], boxes[:, 4], image_inds, 0.7)
        return rerec(bbreg(boxes[pick], regression[pick])), image_inds[pick]

    def _last_stage(self, images: np.ndarray, boxes: np.ndarray, image_inds: np.ndarray) -> StageOutput:
        """Stage 3: O-net on 48 x 48 windows; final boxes (K, 5), image indices and landmarks (K, 5, 2)."""
        if len(boxes):
            boxes, image_inds, windows = _windows(images, boxes, image_inds, 48)
        if not len(boxes):
            return np.zeros((0, 5), np.float32), np.zeros(0, np.int64), np.zeros((0, 5, 2), np.float32)
        regression, points, probs = self.onet(_network_input(windows))
        keep = probs[:, 1] > STAGE_THRESHOLDS[2]
        boxes = np.concatenate([boxes[keep, :4], probs[keep, 1:2]], axis=1)
        image_inds, regression, points = image_inds[keep], regression[keep], points[keep]
        sides_x = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
        sides_y = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
        points = np.stack(
            [sides_x * points[:, :5] + boxes[:, :1] - 1, sides_y * points[:, 5:] + boxes[:, 1:2] - 1], axis=2
        )
        boxes = bbreg(boxes, regression)
        pick = batched_nms_min(boxes[:, :4], boxes[:, 4], image_inds, 0.7)
        return boxes[pick], image_inds[pick], points[pick]

    def _results(self, found: StageOutput, count: int) -> list[FaceDetections]:
        """Per-image detections (detection scale), filtered by size and score."""
        boxes, image_inds, points = found
        results = []
        for index in range(count):
            mine = image_inds == index
            if not mine.any():
                results.append(FaceDetections.empty())
                continue
            faces = FaceDetections.from_arrays(boxes[mine, :4], boxes[mine, 4], points[mine])
            results.append(faces.filtered(self.min_face_size, self.score_threshold))
        return results


def _windows(
    images: np.ndarray, boxes: np.ndarray, image_inds: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``size`` x ``size`` uint8 windows (K, size, size, 3) of the candidate boxes in ``images``
    (B, H, W, 3): the integer pixel windows facenet-pytorch cuts (truncated, clipped to the
    image), resampled with OpenCV's area interpolation; candidates whose window is empty are dropped."""
    height, width = images.shape[1:3]
    whole = np.trunc(boxes[:, :4]).astype(np.int64)
    x1, y1 = np.maximum(whole[:, 0] - 1, 0), np.maximum(whole[:, 1] - 1, 0)
    x2, y2 = np.minimum(whole[:, 2], width), np.minimum(whole[:, 3], height)
    valid = (x2 > x1) & (y2 > y1)
    windows = np.empty((int(valid.sum()), size, size, 3), np.uint8)
    for out, k in enumerate(np.flatnonzero(valid)):
        crop = images[image_inds[k], y1[k] : y2[k], x1[k] : x2[k]]
        windows[out] = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return boxes[valid], image_inds[valid], windows
