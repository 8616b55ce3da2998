"""MTCNN (facenet-pytorch) face detector: boxes, scores and five landmarks, batched."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import torch

from fer_video.device import resolve_device
from fer_video.faces.scaling import downscale_for_detection
from fer_video.faces.types import FaceDetections


class MTCNNDetector:
    """Batched MTCNN: images are downscaled to ``max_detect_side``, grouped by size (MTCNN
    batches need equal sizes) and detected ``batch_size`` at a time; boxes come back in
    original coordinates, filtered by ``min_face_size`` (detection-scale pixels) and
    ``score_threshold``."""

    def __init__(
        self,
        device: str | torch.device = "auto",
        min_face_size: int = 40,
        score_threshold: float = 0.9,
        max_detect_side: int = 640,
        batch_size: int = 32,
    ) -> None:
        from facenet_pytorch import MTCNN

        self.device = resolve_device(device)
        self.min_face_size = min_face_size
        self.score_threshold = score_threshold
        self.max_detect_side = max_detect_side
        self.batch_size = batch_size
        self.mtcnn = MTCNN(keep_all=True, min_face_size=min_face_size, select_largest=False, device=self.device)

    def detect(self, images: Sequence[np.ndarray]) -> list[FaceDetections]:
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

    def _detect_same_size(self, batch: np.ndarray) -> list[FaceDetections]:
        """Detections at detection scale for a stack of equal-size images (B, H, W, 3)."""
        all_boxes, all_scores, all_points = self.mtcnn.detect(batch, landmarks=True)
        detections = []
        for boxes, scores, points in zip(all_boxes, all_scores, all_points):
            if boxes is None:
                detections.append(FaceDetections.empty())
                continue
            found = FaceDetections.from_arrays(boxes, np.asarray(scores, np.float32), points)
            detections.append(found.filtered(self.min_face_size, self.score_threshold))
        return detections
