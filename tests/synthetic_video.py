"""Small H.264 clips for tests: a real face (scikit-image's astronaut) panning, or a blank frame."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import av
import cv2
import numpy as np


def write_clip(path: Path, frames: Sequence[np.ndarray], fps: int = 10) -> Path:
    """An H.264 MP4 of the RGB ``frames`` at ``fps``."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for pixels in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def face_frames(astronaut: np.ndarray, count: int) -> list[np.ndarray]:
    """``count`` 320x240 frames of the astronaut's face, shifted 2 px to the right each frame."""
    face = cv2.resize(astronaut[:300, 50:450], (320, 240), interpolation=cv2.INTER_AREA)
    return [np.roll(face, 2 * i, axis=1) for i in range(count)]


def blank_frames(count: int) -> list[np.ndarray]:
    """``count`` uniform gray 320x240 frames (no face)."""
    return [np.full((240, 320, 3), 120, np.uint8)] * count
