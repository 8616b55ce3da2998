"""Face detection (MTCNN or Haar, batched) and alignment to the classifier's input geometry."""

from fer_video.faces.align import DEFAULT_MARGIN, align_faces, whole_image_crop
from fer_video.faces.factory import DETECTORS, create_detector
from fer_video.faces.types import LANDMARK_NAMES, FaceDetections, FaceDetector

__all__ = [
    "DEFAULT_MARGIN",
    "DETECTORS",
    "LANDMARK_NAMES",
    "FaceDetections",
    "FaceDetector",
    "align_faces",
    "create_detector",
    "whole_image_crop",
]
