"""Face detection (MTCNN or Haar, batched), further looks for photos where it finds no face
(:mod:`fer_video.faces.photos`), and alignment to the classifier's input geometry.

Names are imported on first use (:mod:`fer_video.lazy`): reading :data:`DETECTORS` loads
neither OpenCV nor PyTorch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fer_video.lazy import lazy_exports

if TYPE_CHECKING:
    from fer_video.faces.align import DEFAULT_MARGIN, align_faces, whole_image_crop
    from fer_video.faces.factory import DETECTORS, create_detector
    from fer_video.faces.photos import DEFAULT_PHOTO_SEARCH, PhotoSearch, detect_photos
    from fer_video.faces.types import LANDMARK_NAMES, FaceDetections, FaceDetector

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "DEFAULT_MARGIN": "fer_video.faces.align",
        "DEFAULT_PHOTO_SEARCH": "fer_video.faces.photos",
        "DETECTORS": "fer_video.faces.factory",
        "LANDMARK_NAMES": "fer_video.faces.types",
        "FaceDetections": "fer_video.faces.types",
        "FaceDetector": "fer_video.faces.types",
        "PhotoSearch": "fer_video.faces.photos",
        "align_faces": "fer_video.faces.align",
        "create_detector": "fer_video.faces.factory",
        "detect_photos": "fer_video.faces.photos",
        "whole_image_crop": "fer_video.faces.align",
    },
)

__all__ = [
    "DEFAULT_MARGIN",
    "DEFAULT_PHOTO_SEARCH",
    "DETECTORS",
    "LANDMARK_NAMES",
    "FaceDetections",
    "FaceDetector",
    "PhotoSearch",
    "align_faces",
    "create_detector",
    "detect_photos",
    "whole_image_crop",
]
