"""MTCNN face detector: boxes, scores and five landmarks, batched; and a cheap re-check of known faces.

The three networks (P-, R-, O-net) and their weights are facenet-pytorch's, and so are the
cascade's thresholds, pyramid and box arithmetic. The cascade itself runs here because
facenet-pytorch resizes every pyramid level and every candidate window of stages 2 and 3
(hundreds on a busy frame, one torch call each) with torch's slow adaptive pooling; here the
same levels and integer windows are resized with OpenCV's area interpolation on the uint8
images: detection takes about half the CPU time, with the same faces found
(tests/test_faces.py compares the two on a photo). The networks are rebuilt in
:mod:`fer_video.faces.mtcnn_nets` and the box arithmetic in :mod:`fer_video.faces.boxes`, so
that neither facenet-pytorch's package nor torchvision is imported (seconds of start-up).

:meth:`MTCNNDetector.refine` runs the last stage alone on boxes a tracker expects faces in:
whether each face is still there, with a fresh box, score and landmarks, for a small fraction
of a detection's cost.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from fer_video.device import resolve_device
from fer_video.faces.boxes import batched_nms, batched_nms_min, bbreg, generate_boxes, rerec
from fer_video.faces.mtcnn_nets import load_mtcnn_nets
from fer_video.faces.scaling import downscale_for_detection
from fer_video.faces.types import FaceDetections

#: Candidate score thresholds of the P-, R- and O-net stages (facenet-pytorch's defaults).
STAGE_THRESHOLDS = (0.6, 0.7, 0.7)
#: Ratio between the sides of consecutive pyramid levels.
PYRAMID_FACTOR = 0.709


def _normalise(pixels: torch.Tensor) -> torch.Tensor:
    return (pixels - 127.5) * 0.0078125


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
        self.device = resolve_device(device)
        self.min_face_size = min_face_size
        self.score_threshold = score_threshold
        self.max_detect_side = max_detect_side
        self.batch_size = batch_size
        self.pnet, self.rnet, self.onet = load_mtcnn_nets(self.device)

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
        with torch.inference_mode():
            candidates = torch.zeros((len(boxes), 5), device=self.device)
            candidates[:, :4] = torch.as_tensor(boxes / factor, device=self.device)
            inds = torch.zeros(len(boxes), dtype=torch.long, device=self.device)
            found = self._last_stage(small[None], rerec(candidates), inds)
        return self._results(found, 1)[0].scaled(factor)

    def _tensor(self, batch: np.ndarray) -> torch.Tensor:
        """Normalised network input (B, 3, H, W) from uint8 images (B, H, W, 3)."""
        return _normalise(torch.as_tensor(batch, device=self.device).permute(0, 3, 1, 2).float())

    def _detect_same_size(self, batch: np.ndarray) -> list[FaceDetections]:
        """Detections at detection scale for a stack of equal-size images (B, H, W, 3)."""
        with torch.inference_mode():
            boxes, image_inds = self._propose(batch)
            if len(boxes):
                boxes, image_inds = self._second_stage(batch, boxes, image_inds)
            found = self._last_stage(batch, boxes, image_inds)
        return self._results(found, len(batch))

    def _propose(self, images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Stage 1: P-net over the image pyramid; squared candidate boxes (K, 5) with scores."""
        height, width = images.shape[1:3]
        scale = 12.0 / self.min_face_size
        shortest = min(height, width) * scale
        boxes, image_inds = [], []
        while shortest >= 12:
            size = (int(width * scale + 1), int(height * scale + 1))
            level = np.stack([cv2.resize(image, size, interpolation=cv2.INTER_AREA) for image in images])
            regression, probs = self.pnet(self._tensor(level))
            found, inds = generate_boxes(regression, probs[:, 1], scale, STAGE_THRESHOLDS[0])
            keep = batched_nms(found[:, :4], found[:, 4], inds, 0.5)
            boxes.append(found[keep])
            image_inds.append(inds[keep])
            scale, shortest = scale * PYRAMID_FACTOR, shortest * PYRAMID_FACTOR
        boxes, image_inds = torch.cat(boxes), torch.cat(image_inds)
        keep = batched_nms(boxes[:, :4], boxes[:, 4], image_inds, 0.7)
        boxes, image_inds = boxes[keep], image_inds[keep]
        width_, height_ = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        moved = torch.stack(
            [
                boxes[:, 0] + boxes[:, 5] * width_,
                boxes[:, 1] + boxes[:, 6] * height_,
                boxes[:, 2] + boxes[:, 7] * width_,
                boxes[:, 3] + boxes[:, 8] * height_,
                boxes[:, 4],
            ],
            dim=1,
        )
        return rerec(moved), image_inds

    def _second_stage(
        self, images: np.ndarray, boxes: torch.Tensor, image_inds: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Stage 2: R-net on 24 x 24 windows; the survivors' boxes, refined and squared."""
        boxes, image_inds, windows = _windows(images, boxes, image_inds, 24)
        regression, probs = self.rnet(self._tensor(windows))
        keep = probs[:, 1] > STAGE_THRESHOLDS[1]
        boxes = torch.cat([boxes[keep, :4], probs[keep, 1:2]], dim=1)
        image_inds, regression = image_inds[keep], regression[keep]
        pick = batched_nms(boxes[:, :4], boxes[:, 4], image_inds, 0.7)
        return rerec(bbreg(boxes[pick], regression[pick])), image_inds[pick]

    def _last_stage(
        self, images: np.ndarray, boxes: torch.Tensor, image_inds: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Stage 3: O-net on 48 x 48 windows; final boxes (K, 5), image indices and landmarks (K, 5, 2)."""
        if len(boxes):
            boxes, image_inds, windows = _windows(images, boxes, image_inds, 48)
        if not len(boxes):
            return torch.zeros((0, 5)), torch.zeros(0, dtype=torch.long), torch.zeros((0, 5, 2))
        regression, points, probs = self.onet(self._tensor(windows))
        keep = probs[:, 1] > STAGE_THRESHOLDS[2]
        boxes = torch.cat([boxes[keep, :4], probs[keep, 1:2]], dim=1)
        image_inds, regression, points = image_inds[keep], regression[keep], points[keep]
        sides_x = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
        sides_y = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
        points = torch.stack(
            [sides_x * points[:, :5] + boxes[:, :1] - 1, sides_y * points[:, 5:] + boxes[:, 1:2] - 1], dim=2
        )
        boxes = bbreg(boxes, regression)
        pick = batched_nms_min(boxes[:, :4], boxes[:, 4], image_inds, 0.7)
        return boxes[pick].cpu(), image_inds[pick].cpu(), points[pick].cpu()

    def _results(self, found: tuple[torch.Tensor, torch.Tensor, torch.Tensor], count: int) -> list[FaceDetections]:
        """Per-image detections (detection scale), filtered by size and score."""
        boxes, image_inds, points = (t.numpy() for t in found)
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
    images: np.ndarray, boxes: torch.Tensor, image_inds: torch.Tensor, size: int
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """``size`` x ``size`` uint8 windows (K, size, size, 3) of the candidate boxes in ``images``
    (B, H, W, 3): the integer pixel windows facenet-pytorch cuts (truncated, clipped to the
    image), resampled with OpenCV's area interpolation; candidates whose window is empty are dropped."""
    height, width = images.shape[1:3]
    whole = boxes[:, :4].trunc().long().cpu().numpy()
    x1, y1 = np.maximum(whole[:, 0] - 1, 0), np.maximum(whole[:, 1] - 1, 0)
    x2, y2 = np.minimum(whole[:, 2], width), np.minimum(whole[:, 3], height)
    valid = (x2 > x1) & (y2 > y1)
    inds = image_inds.cpu().numpy()
    windows = np.empty((int(valid.sum()), size, size, 3), np.uint8)
    for out, k in enumerate(np.flatnonzero(valid)):
        crop = images[inds[k], y1[k] : y2[k], x1[k] : x2[k]]
        windows[out] = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    keep = torch.as_tensor(valid, device=boxes.device)
    return boxes[keep], image_inds[keep], windows
