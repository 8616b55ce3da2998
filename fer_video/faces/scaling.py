"""Downscaling large images before detection, so detection cost does not grow with resolution."""

from __future__ import annotations

import cv2
import numpy as np


def downscale_for_detection(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """``image`` shrunk so its longer side is at most ``max_side`` (never enlarged), and the
    factor that maps detection coordinates back to the original (``original = detected * factor``)."""
    height, width = image.shape[:2]
    longest = max(height, width)
    if max_side <= 0 or longest <= max_side:
        return image, 1.0
    shrink = max_side / longest
    size = (max(1, round(width * shrink)), max(1, round(height * shrink)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return small, width / size[0]
