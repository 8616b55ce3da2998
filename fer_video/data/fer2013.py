"""Read FER2013 as an image folder, a zip of that folder, or the original ``fer2013.csv``.

All three decode to :class:`FaceArrays` per official split (``training``, ``publictest``,
``privatetest``), labels in the canonical order of :data:`fer_video.constants.CLASSES`.
Decoded arrays are cached on disk, keyed by the source's path, size and mtime.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import zipfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, UnidentifiedImageError

from fer_video.cache import cache_dir as default_cache_dir
from fer_video.constants import (
    CLASSES,
    FER2013_CSV_TO_CANONICAL,
    FER_IMAGE_SIZE,
    SPLITS,
)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
_PREFIX_TO_SPLIT = {"training": "training", "publictest": "publictest", "privatetest": "privatetest"}
_FOLDER_TO_SPLIT = {
    "train": "training",
    "training": "training",
    "test": "publictest",
    "publictest": "publictest",
    "val": "publictest",
    "privatetest": "privatetest",
}
_USAGE_TO_SPLIT = {"training": "training", "publictest": "publictest", "privatetest": "privatetest"}
_CACHE_VERSION = "1"
DEFAULT_DATA_CANDIDATES = ("../shared/data/fer2013.zip",)


class DataError(ValueError):
    """The data set could not be read; the message says why and where."""


@dataclass(frozen=True)
class FaceArrays:
    """Grayscale face crops ``images`` (N, H, W) uint8 and canonical ``labels`` (N,) int64."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(CLASSES))
        return {name: int(c) for name, c in zip(CLASSES, counts)}


def resolve_fer2013_path(path: str | os.PathLike | None = None) -> Path | None:
    """The given path, else ``$FER2013_PATH``, else ``../shared/data/fer2013.zip``; None if none exists."""
    candidates = [path] if path else [os.environ.get("FER2013_PATH"), *DEFAULT_DATA_CANDIDATES]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return Path(candidate)
    return None


def require_fer2013_path(path: str | os.PathLike | None = None) -> Path:
    """Like :func:`resolve_fer2013_path`, but a clear FileNotFoundError when no data is found."""
    found = resolve_fer2013_path(path)
    if found is None:
        raise FileNotFoundError(f"FER2013 data not found: {path or 'pass --data or set $FER2013_PATH'}")
    return found


def load_fer2013(
    path: str | os.PathLike,
    splits: Iterable[str] | None = None,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
) -> dict[str, FaceArrays]:
    """Load FER2013 from ``path`` (folder, ``.zip`` or ``.csv``).

    ``splits`` names the splits that must be present (error if one is missing); by
    default every split found is returned and absent ones are simply left out.
    """
    source = Path(path)
    if not source.exists():
        raise DataError(f"data path not found: {source}")
    wanted = _check_split_names(splits)
    cache_file = _cache_file(source, cache_dir) if use_cache else None
    data = _read_cache(cache_file) if cache_file else None
    if data is None:
        data = _decode(source)
        if cache_file:
            _write_cache(cache_file, data)
    if wanted is None:
        return data
    missing = [s for s in wanted if s not in data]
    if missing:
        raise DataError(f"split(s) {missing} not found in {source}; available: {sorted(data)}")
    return {s: data[s] for s in wanted}


def random_training_crops(path: str | os.PathLike, count: int, seed: int = 0) -> np.ndarray:
    """``count`` FER2013 Training crops of ``path`` drawn at random without replacement (``seed``),
    in file order, uint8 (N, 48, 48); all of them when there are fewer."""
    images = load_fer2013(path, splits=["training"])["training"].images
    chosen = np.random.default_rng(seed).choice(len(images), size=min(count, len(images)), replace=False)
    return images[np.sort(chosen)]


def _check_split_names(splits: Iterable[str] | None) -> list[str] | None:
    if splits is None:
        return None
    names = [s.lower() for s in ([splits] if isinstance(splits, str) else splits)]
    unknown = [s for s in names if s not in SPLITS]
    if unknown:
        raise DataError(f"unknown split(s) {unknown}; expected some of {list(SPLITS)}")
    return names


def _decode(source: Path) -> dict[str, FaceArrays]:
    if source.is_dir():
        return _from_members(_folder_members(source), source)
    suffix = source.suffix.lower()
    if suffix == ".zip":
        if not zipfile.is_zipfile(source):
            raise DataError(f"not a valid zip file: {source}")
        with zipfile.ZipFile(source) as archive:
            return _from_members(_zip_members(archive), source)
    if suffix == ".csv":
        return _from_csv(source)
    raise DataError(
        f"unknown data layout: {source} (expected a folder train/<emotion>/*.jpg, a .zip of it, "
        "or fer2013.csv with columns emotion,pixels,Usage)"
    )


# ---------------------------------------------------------------- image folder / zip


def _folder_members(root: Path) -> Iterator[tuple[PurePosixPath, bytes]]:
    for file in sorted(root.rglob("*")):
        if file.is_file() and file.suffix.lower() in IMAGE_SUFFIXES:
            yield PurePosixPath(file.relative_to(root).as_posix()), file.read_bytes()


def _zip_members(archive: zipfile.ZipFile) -> Iterator[tuple[PurePosixPath, bytes]]:
    for info in archive.infolist():
        name = PurePosixPath(info.filename)
        if info.is_dir() or name.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if "__MACOSX" in name.parts or name.name.startswith("."):
            continue
        yield name, archive.read(info)


def _split_and_label(member: PurePosixPath) -> tuple[str, int]:
    if len(member.parts) < 3:
        raise DataError(
            f"unknown layout at '{member}': expected <split>/<emotion>/<file>, e.g. train/happy/Training_1.jpg"
        )
    emotion = member.parent.name.lower()
    if emotion not in CLASSES:
        raise DataError(f"unknown class folder '{member.parent.name}' at '{member}'; expected one of {list(CLASSES)}")
    prefix = member.name.split("_", 1)[0].lower()
    split = _PREFIX_TO_SPLIT.get(prefix) or _FOLDER_TO_SPLIT.get(member.parent.parent.name.lower())
    if split is None:
        raise DataError(
            f"cannot tell the split of '{member}': no Training_/PublicTest_/PrivateTest_ prefix "
            f"and the folder '{member.parent.parent.name}' is not one of {sorted(_FOLDER_TO_SPLIT)}"
        )
    return split, CLASSES.index(emotion)


def _decode_image(name: PurePosixPath, payload: bytes) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(payload)) as image:
            gray = image.convert("L")
    except (UnidentifiedImageError, OSError) as error:
        raise DataError(f"cannot decode image '{name}': {error}") from error
    if gray.size != (FER_IMAGE_SIZE, FER_IMAGE_SIZE):
        gray = gray.resize((FER_IMAGE_SIZE, FER_IMAGE_SIZE), Image.Resampling.BILINEAR)
    return np.asarray(gray, dtype=np.uint8)


def _from_members(members: Iterable[tuple[PurePosixPath, bytes]], source: Path) -> dict[str, FaceArrays]:
    names, payloads, splits, labels = [], [], [], []
    for name, payload in members:
        split, label = _split_and_label(name)
        names.append(name)
        payloads.append(payload)
        splits.append(split)
        labels.append(label)
    if not names:
        raise DataError(f"no images found in {source}")
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        images = list(pool.map(_decode_image, names, payloads))
    return _group_by_split(np.stack(images), np.asarray(labels, dtype=np.int64), np.asarray(splits))


# ---------------------------------------------------------------- csv


def _from_csv(source: Path) -> dict[str, FaceArrays]:
    pixel_count = FER_IMAGE_SIZE * FER_IMAGE_SIZE
    images, labels, splits = [], [], []
    with source.open(newline="") as handle:
        reader = csv.reader(handle)
        header = [column.strip().lower() for column in next(reader, [])]
        if "emotion" not in header or "pixels" not in header:
            raise DataError(f"{source}: expected a header with columns emotion,pixels[,Usage], got {header}")
        emotion_col, pixels_col = header.index("emotion"), header.index("pixels")
        usage_col = header.index("usage") if "usage" in header else None
        for line_number, row in enumerate(reader, start=2):
            if not row:
                continue
            where = f"{source}, row {line_number}"
            try:
                raw_label = int(row[emotion_col])
                pixels = np.array(row[pixels_col].split(), dtype=np.int64)
            except (ValueError, IndexError) as error:
                raise DataError(f"{where}: malformed row ({error})") from error
            if not 0 <= raw_label < len(FER2013_CSV_TO_CANONICAL):
                raise DataError(f"{where}: emotion label {raw_label} is not in 0..6")
            if pixels.size != pixel_count or pixels.min() < 0 or pixels.max() > 255:
                raise DataError(f"{where}: expected {pixel_count} pixel values in 0..255, got {pixels.size}")
            usage = row[usage_col].strip().lower() if usage_col is not None and usage_col < len(row) else "training"
            if usage not in _USAGE_TO_SPLIT:
                raise DataError(f"{where}: unknown Usage '{usage}' (expected Training, PublicTest or PrivateTest)")
            images.append(pixels.astype(np.uint8).reshape(FER_IMAGE_SIZE, FER_IMAGE_SIZE))
            labels.append(FER2013_CSV_TO_CANONICAL[raw_label])
            splits.append(_USAGE_TO_SPLIT[usage])
    if not images:
        raise DataError(f"no rows found in {source}")
    return _group_by_split(np.stack(images), np.asarray(labels, dtype=np.int64), np.asarray(splits))


def _group_by_split(images: np.ndarray, labels: np.ndarray, splits: np.ndarray) -> dict[str, FaceArrays]:
    return {
        split: FaceArrays(images=images[splits == split], labels=labels[splits == split])
        for split in SPLITS
        if np.any(splits == split)
    }


# ---------------------------------------------------------------- cache


def _cache_root(cache_dir: str | os.PathLike | None) -> Path:
    return Path(cache_dir) if cache_dir else default_cache_dir()


def _cache_file(source: Path, cache_dir: str | os.PathLike | None) -> Path:
    stat = source.stat()
    if source.is_dir():
        newest = max((p.stat().st_mtime_ns for p in source.rglob("*")), default=stat.st_mtime_ns)
        stamp = f"dir:{newest}"
    else:
        stamp = f"{stat.st_size}:{stat.st_mtime_ns}"
    key = hashlib.sha1(f"{_CACHE_VERSION}|{source.resolve()}|{stamp}".encode()).hexdigest()[:16]
    return _cache_root(cache_dir) / f"fer2013-{key}.npz"


def _read_cache(cache_file: Path) -> dict[str, FaceArrays] | None:
    if not cache_file.exists():
        return None
    try:
        with np.load(cache_file, allow_pickle=False) as stored:
            return {
                split: FaceArrays(images=stored[f"{split}_images"], labels=stored[f"{split}_labels"])
                for split in SPLITS
                if f"{split}_labels" in stored.files
            }
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None  # a damaged cache is rebuilt from the source


def _write_cache(cache_file: Path, data: dict[str, FaceArrays]) -> None:
    arrays = {}
    for split, faces in data.items():
        arrays[f"{split}_images"] = faces.images
        arrays[f"{split}_labels"] = faces.labels
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        partial = cache_file.with_suffix(f".{os.getpid()}.tmp")
        with partial.open("wb") as handle:
            np.savez(handle, **arrays)
        partial.replace(cache_file)
    except OSError:
        pass  # caching is an optimisation; a read-only home must not stop the run
