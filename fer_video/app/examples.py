"""Example inputs offered in the app, written at the first start and kept in the cache folder
(nothing large is committed).

The photo is scikit-image's astronaut (shipped inside scikit-image, no download); the clip is
made from it by a slow pan and zoom, so the face moves as in a real video.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import av
import numpy as np
from PIL import Image

from fer_video.cache import cache_dir

EXAMPLE_IMAGE = "astronaut.png"
EXAMPLE_VIDEO = "astronaut_pan.mp4"


def astronaut() -> np.ndarray:
    """scikit-image's astronaut photo, RGB uint8 (512, 512, 3), one face."""
    from skimage import data

    return data.astronaut()


def example_folder(fallback: str | Path) -> Path:
    """Where the examples are kept between runs (``<cache_dir>/app_examples``), or ``fallback``
    when that cannot be written."""
    folder = cache_dir() / "app_examples"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return Path(fallback)
    return folder if os.access(folder, os.W_OK) else Path(fallback)


def partial_path(target: Path) -> Path:
    """A temporary name beside ``target``, unique to this process, with the same suffix."""
    return target.with_name(f".{target.stem}.{os.getpid()}.partial{target.suffix}")


def write_example_image(folder: str | Path) -> Path:
    """``folder/astronaut.png`` (written once)."""
    path = Path(folder) / EXAMPLE_IMAGE
    if not path.is_file():
        partial = partial_path(path)
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


def write_clip(frames: Iterable[np.ndarray], path: str | Path, fps: int, options: dict[str, str] | None = None) -> Path:
    """Encode RGB frames (all one size; any iterable, so long clips need not fit in memory) as an
    H.264 MP4 that browsers play, written via a temporary file; ``options``: libx264's (e.g.
    ``{"preset": "veryfast"}``)."""
    target = Path(path)
    partial = partial_path(target)
    with av.open(str(partial), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps, options=options or {})
        stream.pix_fmt = "yuv420p"
        for index, frame in enumerate(frames):
            if index == 0:
                stream.height, stream.width = frame.shape[:2]
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
