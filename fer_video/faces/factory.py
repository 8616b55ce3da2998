"""Face detectors by name."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from fer_video.faces.types import FaceDetector

DETECTORS: tuple[str, ...] = ("mtcnn", "haar")


def create_detector(
    name: str = "mtcnn",
    device: str | torch.device = "auto",
    min_face_size: int = 40,
    score_threshold: float = 0.9,
    max_detect_side: int = 640,
) -> FaceDetector:
    """``mtcnn`` (accurate, landmarks for alignment) or ``haar`` (light OpenCV fallback, CPU,
    no landmarks or score: ``score_threshold`` does not apply)."""
    if min_face_size < 1:
        raise ValueError(f"min_face_size must be at least 1 pixel, got {min_face_size}")
    if not 0 <= score_threshold <= 1:
        raise ValueError(f"score_threshold must be between 0 and 1, got {score_threshold}")
    if name == "mtcnn":
        from fer_video.faces.mtcnn import MTCNNDetector

        return MTCNNDetector(device, min_face_size, score_threshold, max_detect_side)
    if name == "haar":
        from fer_video.faces.haar import HaarDetector

        return HaarDetector(min_face_size, max_detect_side)
    raise ValueError(f"unknown face detector {name!r}; choose one of: {', '.join(DETECTORS)}")
