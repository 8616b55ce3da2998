"""Example inputs offered in the app, written at startup (nothing large is committed).

The photo is scikit-image's astronaut (shipped inside scikit-image, no download); the clip is
made from it by a slow pan and zoom, so the face moves as in a real video.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from PIL import Image

EXAMPLE_IMAGE = "astronaut.png"
EXAMPLE_VIDEO = "astronaut_pan.mp4"


def astronaut() -> np.ndarray:
    """scikit-image's astronaut photo, RGB uint8 (512, 512, 3), one face."""
    from skimage import data

    return data.astronaut()


def write_example_image(folder: str | Path) -> Path:
    """``folder/astronaut.png`` (written once)."""
    path = Path(folder) / EXAMPLE_IMAGE
    if not path.is_file():
        partial = path.with_suffix(".partial.png")
        Image.fromarray(astronaut()).save(partial)
        partial.replace(path)
    return path


def pan_zoom_frames(image: np.ndarray, count: int, size: int = 320) -> list[np.ndarray]:
    """``count`` square ``size`` px views of ``image`` zooming in from the whole picture to its
    central 70 % while drifting sideways."""
    height, width = image.shape[:2]
    side = min(height, width)
    frames = []
    for step in np.linspace(0.0, 1.0, count):
        crop = side * (1.0 - 0.3 * step)
        left = (width - crop) * (0.5 + 0.4 * np.sin(np.pi * step) * 0.5)
        top = (height - crop) * 0.3
        box = tuple(round(v) for v in (left, top, left + crop, top + crop))
        frames.append(np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR, box=box)))
    return frames


def write_clip(frames: list[np.ndarray], path: str | Path, fps: int) -> Path:
    """Encode RGB frames as an H.264 MP4 that browsers play (written via a temporary file)."""
    target = Path(path)
    partial = target.with_suffix(".partial.mp4")
    with av.open(str(partial), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    partial.replace(target)
    return target


def write_example_video(folder: str | Path, seconds: float = 3.0, fps: int = 10) -> Path:
    """``folder/astronaut_pan.mp4``: a short clip panning over the astronaut (written once)."""
    path = Path(folder) / EXAMPLE_VIDEO
    if not path.is_file():
        write_clip(pan_zoom_frames(astronaut(), max(2, round(seconds * fps))), path, fps)
    return path
