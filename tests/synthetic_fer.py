"""Tiny generated FER2013 look-alikes in the three on-disk forms the readers accept.

Each class gets its own horizontal grating frequency (kept by flips and small affine jitter),
so a small CNN can learn the classes in a few epochs.
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from fer_video.constants import CLASSES, FER2013_CSV_CLASSES, FER_IMAGE_SIZE

#: Grating cycles per image height, one per canonical class.
CYCLES = (2.0, 3.0, 4.5, 6.5, 9.0, 12.5, 17.0)
FOLDER_NAMES = {"training": "train", "publictest": "test"}
FILE_PREFIX = {"training": "Training", "publictest": "PublicTest", "privatetest": "PrivateTest"}


def class_images(per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (7 * per_class, 48, 48) and canonical labels: noisy gratings, one frequency per class."""
    rng = np.random.default_rng(seed)
    rows = np.arange(FER_IMAGE_SIZE)[:, None] / FER_IMAGE_SIZE
    images, labels = [], []
    for label, cycles in enumerate(CYCLES):
        for _ in range(per_class):
            phase = rng.uniform(0, 2 * np.pi)
            grating = 0.5 + 0.35 * np.sin(2 * np.pi * cycles * rows + phase)
            noisy = np.broadcast_to(grating, (FER_IMAGE_SIZE, FER_IMAGE_SIZE)) + rng.normal(0, 0.05, (48, 48))
            images.append((noisy.clip(0, 1) * 255).astype(np.uint8))
            labels.append(label)
    return np.stack(images), np.array(labels, dtype=np.int64)


def write_image_folder(root: Path, splits: dict[str, tuple[np.ndarray, np.ndarray]], suffix: str = ".jpg") -> Path:
    """``root/train/<emotion>/Training_<i>.jpg`` and ``root/test/<emotion>/PublicTest_<i>.jpg``."""
    for split, (images, labels) in splits.items():
        for index, (image, label) in enumerate(zip(images, labels)):
            folder = root / FOLDER_NAMES[split] / CLASSES[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"{FILE_PREFIX[split]}_{index}{suffix}")
    return root


def zip_folder(folder: Path, target: Path) -> Path:
    """A zip of ``folder``'s files (sorted, paths relative to ``folder``) like the Kaggle download."""
    with zipfile.ZipFile(target, "w") as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(folder).as_posix())
    return target


def write_csv(target: Path, splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> Path:
    """The original ``fer2013.csv``: emotion (csv label order), pixels (space separated), Usage."""
    usage = {"training": "Training", "publictest": "PublicTest", "privatetest": "PrivateTest"}
    with target.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["emotion", "pixels", "Usage"])
        for split, (images, labels) in splits.items():
            for image, label in zip(images, labels):
                csv_label = FER2013_CSV_CLASSES.index(CLASSES[label])
                writer.writerow([csv_label, " ".join(map(str, image.ravel())), usage[split]])
    return target


def tiny_dataset(root: Path, train_per_class: int = 36, test_per_class: int = 10, seed: int = 0) -> Path:
    """An image-folder dataset with Training and PublicTest splits (~256 + 70 images by default)."""
    return write_image_folder(
        root,
        {"training": class_images(train_per_class, seed), "publictest": class_images(test_per_class, seed + 1)},
    )
