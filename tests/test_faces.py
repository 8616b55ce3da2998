"""Face detection and alignment on real photos (scikit-image's astronaut) and edits of it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fer_video.faces import FaceDetections, align_faces, create_detector
from fer_video.faces.align import eye_angle

# Where the astronaut's face is (x1, y1, x2, y2), generously: the detector box must lie inside
# and be at least a face's size.
FACE_REGION = (150, 30, 300, 200)


@pytest.fixture(scope="module")
def mtcnn():
    return create_detector("mtcnn", device="cpu")


@pytest.fixture(scope="module")
def astronaut_faces(mtcnn, astronaut) -> FaceDetections:
    return mtcnn.detect([astronaut])[0]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None).prod()
    area = lambda box: (box[2] - box[0]) * (box[3] - box[1])
    return float(inter / (area(a) + area(b) - inter))


def rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)


def test_astronaut_has_one_face_with_plausible_box(astronaut_faces):
    assert len(astronaut_faces) == 1
    x1, y1, x2, y2 = astronaut_faces.boxes[0]
    rx1, ry1, rx2, ry2 = FACE_REGION
    assert rx1 <= x1 < x2 <= rx2 and ry1 <= y1 < y2 <= ry2
    assert 60 <= x2 - x1 <= 140 and 60 <= y2 - y1 <= 160
    assert astronaut_faces.scores[0] >= 0.9
    left_eye, right_eye, nose = astronaut_faces.landmarks[0, :3]
    assert left_eye[0] < nose[0] < right_eye[0]
    assert x1 <= nose[0] <= x2 and y1 <= nose[1] <= y2


def test_two_pasted_faces_are_ordered_left_to_right(mtcnn, astronaut):
    face = astronaut[20:230, 130:320]
    canvas = np.full((320, 700, 3), 120, np.uint8)
    canvas[40:250, 40:230] = face
    bigger = cv2.resize(face, None, fx=1.3, fy=1.3)  # the right face is larger and more confident
    canvas[20 : 20 + bigger.shape[0], 420 : 420 + bigger.shape[1]] = bigger
    found = mtcnn.detect([canvas])[0]
    assert len(found) == 2
    centers = (found.boxes[:, 0] + found.boxes[:, 2]) / 2
    assert 40 < centers[0] < 230 and 420 < centers[1] < 420 + bigger.shape[1]


def test_batched_detection_matches_single_images(mtcnn, astronaut):
    small = cv2.resize(astronaut, (300, 300))
    blank = np.full((200, 260, 3), 90, np.uint8)
    batch = mtcnn.detect([astronaut, small, blank, astronaut])
    assert [len(d) for d in batch] == [1, 1, 0, 1]
    np.testing.assert_allclose(batch[0].boxes, batch[3].boxes)
    alone = mtcnn.detect([small])[0]
    np.testing.assert_allclose(batch[1].boxes, alone.boxes, atol=1e-3)


def test_large_image_is_detected_downscaled_and_mapped_back(mtcnn, astronaut, astronaut_faces):
    canvas = np.zeros((6000, 8000, 3), np.uint8)
    canvas[1000:4072, 2000:5072] = cv2.resize(astronaut, (3072, 3072))  # 6x the original
    found = mtcnn.detect([canvas])[0]
    assert len(found) == 1
    expected = astronaut_faces.boxes[0] * 6 + np.array([2000, 1000, 2000, 1000])
    assert iou(found.boxes[0], expected) > 0.8


def test_tiny_and_faceless_images_give_no_faces(mtcnn, astronaut):
    noise = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    tiny = cv2.resize(astronaut, (24, 24))
    results = mtcnn.detect([noise, tiny, np.zeros((1, 1, 3), np.uint8)])
    assert [len(r) for r in results] == [0, 0, 0]


def test_min_face_size_filters_small_faces(astronaut):
    strict = create_detector("mtcnn", device="cpu", min_face_size=200)
    assert len(strict.detect([astronaut])[0]) == 0


def test_cascade_matches_facenet_pytorch(astronaut, astronaut_faces):
    """The cascade run here (OpenCV resampling) finds what facenet-pytorch's own loop finds."""
    from facenet_pytorch import MTCNN

    boxes, scores = MTCNN(keep_all=True, min_face_size=40, device="cpu").detect(astronaut)
    assert len(boxes) == len(astronaut_faces) == 1
    assert iou(boxes[0], astronaut_faces.boxes[0]) > 0.9 and abs(scores[0] - astronaut_faces.scores[0]) < 0.01


def test_refine_follows_a_moved_face_and_drops_a_vanished_one(mtcnn, astronaut, astronaut_faces):
    shift = np.array([-15, 12])  # x, y
    moved = np.roll(astronaut, (12, -15), axis=(0, 1))
    found = mtcnn.refine(moved, astronaut_faces.boxes)  # looked for where the face was
    assert len(found) == 1 and found.scores[0] >= 0.9
    assert iou(found.boxes[0], astronaut_faces.boxes[0] + np.tile(shift, 2)) > 0.8
    assert np.abs(found.landmarks[0] - (astronaut_faces.landmarks[0] + shift)).max() < 6
    assert len(mtcnn.refine(np.full_like(astronaut, 120), astronaut_faces.boxes)) == 0
    assert len(mtcnn.refine(astronaut, np.zeros((0, 4)))) == 0


def test_haar_fallback_finds_the_face_without_landmarks(astronaut, astronaut_faces):
    found = create_detector("haar").detect([astronaut])[0]
    assert len(found) == 1
    assert iou(found.boxes[0], astronaut_faces.boxes[0]) > 0.5
    assert np.isnan(found.landmarks).all()


def test_create_detector_rejects_bad_settings():
    with pytest.raises(ValueError, match="unknown face detector"):
        create_detector("yolo")
    with pytest.raises(ValueError, match="score_threshold"):
        create_detector("mtcnn", score_threshold=1.5)


def test_alignment_levels_the_eyes(mtcnn, astronaut, astronaut_faces):
    upright = align_faces(astronaut, astronaut_faces, output_size=48, margin=0.1)
    tilted_image = rotate(astronaut, 25)
    tilted = mtcnn.detect([tilted_image])[0]
    assert len(tilted) == 1
    assert abs(np.degrees(eye_angle(tilted.landmarks[0]))) > 15
    aligned = align_faces(tilted_image, tilted, output_size=48, margin=0.1)
    assert upright.shape == aligned.shape == (1, 48, 48) and aligned.dtype == np.uint8
    # Without the rotation the crops correlate at about 0.2; aligned, at about 0.87.
    assert np.corrcoef(upright.ravel(), aligned.ravel())[0, 1] > 0.75


def test_margin_widens_the_crop(astronaut, astronaut_faces):
    tight = align_faces(astronaut, astronaut_faces, output_size=96, margin=0.0)[0]
    loose = align_faces(astronaut, astronaut_faces, output_size=96, margin=0.5)[0]
    # The loose crop's centre half is the tight crop, shrunk by 1 / (1 + 2 * 0.5).
    centre = cv2.resize(loose[24:72, 24:72], (96, 96))
    assert np.corrcoef(centre.ravel(), tight.ravel())[0, 1] > 0.9


def test_align_without_faces_is_empty(astronaut):
    crops = align_faces(astronaut, FaceDetections.empty(), output_size=64)
    assert crops.shape == (0, 64, 64) and crops.dtype == np.uint8
