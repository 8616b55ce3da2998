"""Image loading and annotation shared by the CLI, the Python API, the video pipeline and the app.

:func:`load_image` turns a path, PIL image or numpy array into one RGB uint8 (H, W, 3) array:
EXIF orientation applied (boxes match the upright photo), grayscale / RGBA / 16-bit / palette
images converted, transparency flattened onto white. Every failure is an :class:`ImageLoadError`
with a one-line message naming the file.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from fer_video.constants import CLASSES
from fer_video.data.fer2013 import IMAGE_SUFFIXES

if TYPE_CHECKING:
    from fer_video.recognizer import FaceResult

ImageSource = str | os.PathLike | Image.Image | np.ndarray

_HIGH_BIT_MODES = {"I", "F", "I;16", "I;16B", "I;16L", "I;16N"}
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}

#: One box colour per emotion, in :data:`CLASSES` order.
CLASS_COLORS: dict[str, tuple[int, int, int]] = dict(
    zip(
        CLASSES,
        [
            (230, 57, 70),
            (106, 153, 78),
            (155, 93, 229),
            (255, 190, 11),
            (173, 181, 189),
            (58, 134, 255),
            (255, 112, 166),
        ],
    )
)


class ImageLoadError(ValueError):
    """An input could not be read as an image; the message says which and why."""


def load_image(source: ImageSource) -> np.ndarray:
    """RGB uint8 (H, W, 3) from a file path, a PIL image or a numpy array (arrays are taken as RGB)."""
    if isinstance(source, np.ndarray):
        return array_to_rgb(source)
    if isinstance(source, Image.Image):
        return pil_to_rgb(source)
    if isinstance(source, (str, os.PathLike)):
        with open_image_file(Path(source)) as image:
            try:
                return pil_to_rgb(image)
            except ImageLoadError:
                raise
            except (ValueError, OSError) as error:  # an image mode PIL cannot convert
                raise ImageLoadError(f"cannot convert to RGB: {source} ({error})") from None
    raise ImageLoadError(f"cannot read an image from a {type(source).__name__}; give a path, PIL image or array")


def open_image_file(path: Path) -> Image.Image:
    """The decoded PIL image in ``path``; ImageLoadError with a clear reason otherwise."""
    if not path.exists():
        raise ImageLoadError(f"file not found: {path}")
    if path.is_dir():
        raise ImageLoadError(f"is a folder, not an image file: {path}")
    if path.stat().st_size == 0:
        raise ImageLoadError(f"empty file (0 bytes): {path}")
    try:
        image = Image.open(path)
        image.load()  # decode now, so truncated files fail here and not later
    except PermissionError:
        raise ImageLoadError(f"permission denied: {path}") from None
    except Image.DecompressionBombError as error:
        raise ImageLoadError(f"image too large to decode safely: {path} ({error})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        reason = "unknown image format" if isinstance(error, UnidentifiedImageError) else str(error)
        raise ImageLoadError(f"not an image or corrupt: {path} ({reason})") from None
    return image


def pil_to_rgb(image: Image.Image) -> np.ndarray:
    """A PIL image (first frame), upright per its EXIF orientation, as RGB uint8."""
    try:
        image = ImageOps.exif_transpose(image)
    except (OSError, ValueError, KeyError, TypeError, SyntaxError):
        pass  # unreadable EXIF: keep the stored orientation rather than fail the image
    if image.mode in _HIGH_BIT_MODES:
        return array_to_rgb(np.asarray(image), high_bit=True)
    if image.mode in _ALPHA_MODES or (image.mode == "P" and "transparency" in image.info):
        return array_to_rgb(np.asarray(image.convert("RGBA")))
    return np.array(image.convert("RGB"), dtype=np.uint8)


def array_to_rgb(array: np.ndarray, high_bit: bool = False) -> np.ndarray:
    """RGB uint8 (H, W, 3) from an array (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) of any numeric
    dtype: 16-bit integers are scaled down, floats in [0, 1] scaled up, alpha flattened onto white."""
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)) or 0 in array.shape:
        raise ImageLoadError(f"expected an image array (H, W), (H, W, 3) or (H, W, 4), got shape {array.shape}")
    pixels = _to_uint8(array, high_bit)
    if pixels.ndim == 2:
        return np.repeat(pixels[..., None], 3, axis=2)
    if pixels.shape[-1] == 4:
        alpha = pixels[..., 3:].astype(np.float32) / 255
        flattened = pixels[..., :3] * alpha + 255 * (1 - alpha)
        return np.ascontiguousarray(flattened.round().astype(np.uint8))
    return np.ascontiguousarray(pixels)


def _to_uint8(array: np.ndarray, high_bit: bool) -> np.ndarray:
    """Values mapped to 0..255: uint8 as is; bool to 0/255; floats in [0, 1] times 255; 16-bit
    data (integers from a 16-bit source or dtype, or any values above 255) divided by 257."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    values = np.nan_to_num(array.astype(np.float32))
    peak = float(values.max())
    if np.issubdtype(array.dtype, np.floating):
        sixteen_bit, unit_range = peak > 255, peak <= 1.0
    else:
        sixteen_bit, unit_range = high_bit or array.dtype.itemsize == 2 or peak > 255, False
    if unit_range:
        values = values * 255
    elif sixteen_bit:
        values = values / 257
    return values.clip(0, 255).round().astype(np.uint8)


def collect_image_paths(patterns: Sequence[str], recursive: bool = False) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files named by ``patterns`` (files, folders, glob patterns), in order, without repeats,
    and ``(pattern, message)`` for each pattern that names nothing. Folders contribute their image
    files (by suffix; with ``recursive``, those of subfolders too); a file named explicitly is
    kept whatever its suffix, so a non-image gets a clear error when it is loaded."""
    found: dict[Path, None] = {}
    problems: list[tuple[str, str]] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            walk = path.rglob("*") if recursive else path.iterdir()
            members = sorted(p for p in walk if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not members:
                problems.append((pattern, f"no image files in folder: {pattern}"))
        elif path.exists() or not glob.has_magic(pattern):
            members = [path]  # a missing file is reported when it is loaded
        else:
            members = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
            if not members:
                problems.append((pattern, f"no files match: {pattern}"))
        found.update(dict.fromkeys(members))
    return list(found), problems


def save_image(image: np.ndarray, path: str | os.PathLike) -> None:
    """Write an RGB uint8 image to ``path`` (format from the suffix), through a temporary file."""
    from fer_video.evaluate.outputs import atomic_path

    target = Path(path)
    options = {"quality": 92} if target.suffix.lower() in (".jpg", ".jpeg") else {}
    with atomic_path(target) as partial:
        Image.fromarray(image).save(partial, format=Image.registered_extensions().get(target.suffix.lower()), **options)


def annotate_image(image: np.ndarray, results: Sequence[FaceResult]) -> np.ndarray:
    """A copy of the RGB ``image`` with each face's box and ``label confidence%`` drawn on it."""
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    short_side = min(image.shape[:2])
    width = max(2, round(short_side / 250))
    font = ImageFont.load_default(size=max(12, round(short_side / 28)))
    for result in results:
        color = CLASS_COLORS.get(result.label, (255, 255, 255))
        x1, y1, x2, y2 = (float(v) for v in result.box)
        draw.rectangle((x1, y1, x2, y2), outline=color, width=width)
        text = f"{result.label} {result.confidence:.0%}"
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        text_w, text_h = right - left + 2 * width, bottom - top + 2 * width
        ty = y1 - text_h if y1 - text_h >= 0 else y1  # above the box, or inside it at the top edge
        draw.rectangle((x1, ty, x1 + text_w, ty + text_h), fill=color)
        draw.text((x1 + width - left, ty + width - top), text, fill=(0, 0, 0), font=font)
    return np.asarray(canvas)
