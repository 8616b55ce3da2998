"""FER2013 readers (image folder, zip, csv) with an on-disk cache of decoded arrays."""

from fer_video.data.fer2013 import (
    DataError,
    FaceArrays,
    load_fer2013,
    random_training_crops,
    require_fer2013_path,
    resolve_fer2013_path,
)

__all__ = [
    "DataError",
    "FaceArrays",
    "load_fer2013",
    "random_training_crops",
    "require_fer2013_path",
    "resolve_fer2013_path",
]
