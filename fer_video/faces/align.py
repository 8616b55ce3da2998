"""Face alignment: eyes level, square crop with a margin, grayscale, model input size.

``DEFAULT_MARGIN`` was measured by ``scripts/measure_margin.py`` (results/face_margin.md):
FER2013 PublicTest faces, upscaled and padded like faces in a photo, were re-detected,
aligned at several margins and classified; this margin gave the best accuracy (near-ties
broken by the mean probability of the true class). It is slightly negative because MTCNN
boxes (brow to chin, taller than wide) come out a little larger than FER2013's tight
framing once squared on their longer side. Haar boxes are framed differently; the margin
was measured for MTCNN.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from fer_video.constants import FER_IMAGE_SIZE
from fer_video.faces.types import FaceDetections

#: Context added on each side of the square crop, as a fraction of the box's longer side
#: (negative: cropped tighter than the box).
DEFAULT_MARGIN = -0.05


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 grayscale (H, W) from RGB (H, W, 3) or an image that is already grayscale."""
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image


def eye_angle(landmarks: np.ndarray) -> float:
    """Angle (radians) of the line from the left to the right eye; 0 when the eyes are unknown."""
    (lx, ly), (rx, ry) = landmarks[0], landmarks[1]
    if not np.isfinite([lx, ly, rx, ry]).all() or (lx, ly) == (rx, ry):
        return 0.0
    return math.atan2(ry - ly, rx - lx)


def align_face(gray: np.ndarray, box: np.ndarray, landmarks: np.ndarray, output_size: int, margin: float) -> np.ndarray:
    """One aligned crop (output_size, output_size) from a grayscale image."""
    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    side = max(x2 - x1, y2 - y1, 1.0) * (1 + 2 * margin)
    # Warp at the face's own resolution (or the output's, if smaller), then shrink with
    # area averaging: a direct bilinear warp to 48 px would alias large faces.
    size = max(output_size, round(side))
    scale = size / side
    angle = eye_angle(landmarks)
    cos, sin = math.cos(angle) * scale, math.sin(angle) * scale
    half = size / 2
    matrix = np.array(
        [[cos, sin, half - (cos * cx + sin * cy)], [-sin, cos, half - (-sin * cx + cos * cy)]], dtype=np.float64
    )
    crop = cv2.warpAffine(gray, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if size != output_size:
        crop = cv2.resize(crop, (output_size, output_size), interpolation=cv2.INTER_AREA)
    return crop


def align_faces(
    image: np.ndarray, detections: FaceDetections, output_size: int = FER_IMAGE_SIZE, margin: float = DEFAULT_MARGIN
) -> np.ndarray:
    """Aligned grayscale crops (N, output_size, output_size) uint8 for every detected face in
    the RGB uint8 ``image``: rotated so the eyes are level, square, ``margin`` of the box's
    longer side added on each side, the same framing the classifier was trained on."""
    crops = np.zeros((len(detections), output_size, output_size), np.uint8)
    if len(detections) == 0:
        return crops
    gray = to_gray(image)
    for i, (box, points) in enumerate(zip(detections.boxes, detections.landmarks)):
        crops[i] = align_face(gray, box, points, output_size, margin)
    return crops


def whole_image_crop(image: np.ndarray, output_size: int = FER_IMAGE_SIZE) -> np.ndarray:
    """An image that is already a face crop, as grayscale (output_size, output_size) uint8."""
    return cv2.resize(to_gray(image), (output_size, output_size), interpolation=cv2.INTER_AREA)
