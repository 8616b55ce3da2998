"""Class names and label maps shared by every stage."""

from __future__ import annotations

#: Canonical class order used by every model, table and plot in fer-video.
CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
NUM_CLASSES = len(CLASSES)

#: Class names in the label order of the original ``fer2013.csv`` (0..6).
FER2013_CSV_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

#: ``FER2013_CSV_TO_CANONICAL[csv_label]`` is the canonical index of that class.
FER2013_CSV_TO_CANONICAL: tuple[int, ...] = tuple(CLASSES.index(name) for name in FER2013_CSV_CLASSES)

#: Official FER2013 split names, as used throughout the API and CLI.
SPLITS: tuple[str, ...] = ("training", "publictest", "privatetest")

#: Native FER2013 crop size.
FER_IMAGE_SIZE = 48
