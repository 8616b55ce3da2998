"""Per-track smoothing of face boxes and landmarks (One-Euro filter) before alignment.

Detector boxes and landmarks jitter by a few pixels from frame to frame even on a still face;
the aligned crop moves with them, and the CNN's answer with the crop. A One-Euro filter (Casiez,
Roussel & Vogel, CHI 2012) smooths each coordinate with an exponential filter whose cut-off rises
with the speed of the face, so a still face's crop stays put while a moving face is followed
without lag. Coordinates are filtered in units of the face's size, so the same settings suit a
small face in a 4K frame and a large one in a webcam frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Cut-off frequency (Hz) of a still face's coordinates.
DEFAULT_MIN_CUTOFF_HZ = 0.5
#: How fast the cut-off rises with speed (Hz per face size per second).
DEFAULT_SPEED_COEFFICIENT = 1.5
#: Cut-off (Hz) of the speed estimate itself.
DERIVATIVE_CUTOFF_HZ = 1.0


def _smoothing_factor(cutoff_hz: float, dt: float) -> float:
    tau = 1.0 / (2 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt)


@dataclass
class OneEuroFilter:
    """One-Euro filter of a vector signal. ``scale`` (per call) is the unit speeds are judged in:
    the cut-off rises by ``speed_coefficient`` Hz per ``scale`` units per second."""

    min_cutoff_hz: float = DEFAULT_MIN_CUTOFF_HZ
    speed_coefficient: float = DEFAULT_SPEED_COEFFICIENT
    value: np.ndarray | None = None
    speed: np.ndarray | None = None

    def __call__(self, x: np.ndarray, dt: float, scale: float = 1.0) -> np.ndarray:
        """The filtered value after observing ``x`` ``dt`` seconds after the previous one."""
        x = np.asarray(x, np.float64)
        if self.value is None or dt <= 0:
            self.value, self.speed = x.copy(), np.zeros_like(x)
            return x.copy()
        raw_speed = (x - self.value) / dt
        self.speed = self.speed + _smoothing_factor(DERIVATIVE_CUTOFF_HZ, dt) * (raw_speed - self.speed)
        cutoff = self.min_cutoff_hz + self.speed_coefficient * np.abs(self.speed) / scale
        alpha = 1.0 / (1.0 + 1.0 / (2 * np.pi * cutoff * dt))
        self.value = self.value + alpha * (x - self.value)
        return self.value.copy()


class FaceStabilizer:
    """Filters one face track's box (4) and landmarks (5 x 2) over time.

    The box's centre, width, height and the landmarks are filtered in pixels, with speeds judged
    in face sizes (the box's longer side) per second. Missing landmarks (NaN: a detector without
    landmarks) stay missing.
    """

    def __init__(
        self, min_cutoff_hz: float = DEFAULT_MIN_CUTOFF_HZ, speed_coefficient: float = DEFAULT_SPEED_COEFFICIENT
    ) -> None:
        self._geometry = OneEuroFilter(min_cutoff_hz, speed_coefficient)

    def __call__(self, box: np.ndarray, landmarks: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
        """The stabilised ``box`` (x1, y1, x2, y2) and ``landmarks`` (5, 2) of this frame, ``dt``
        seconds after the previous frame of this track."""
        box = np.asarray(box, np.float64)
        landmarks = np.asarray(landmarks, np.float64)
        side = max(box[2] - box[0], box[3] - box[1], 1.0)
        has_points = bool(np.isfinite(landmarks).all())
        centre, extent = (box[:2] + box[2:]) / 2, box[2:] - box[:2]
        signal = np.concatenate([centre, extent, landmarks.reshape(-1) if has_points else np.zeros(10)])
        if self._geometry.value is not None and has_points != bool(np.any(self._geometry.value[4:])):
            self._geometry.value = None  # landmarks appeared or vanished: start again
        filtered = self._geometry(signal, dt, scale=side)
        (cx, cy), (w, h) = filtered[:2], filtered[2:4]
        stable_box = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32)
        stable_points = filtered[4:].reshape(5, 2) if has_points else landmarks
        return stable_box, stable_points.astype(np.float32)
