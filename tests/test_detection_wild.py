"""Photos where the first detection finds no face get further looks (fer_video.faces.photos):
real photos (scikit-image's astronaut, LFW crops) shrunk, pasted into a large photo, darkened,
flattened and turned find their face; real photos without a person stay empty."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fer_video.faces import FaceDetections, create_detector
from fer_video.faces.photos import (
    PhotoSearch,
    View,
    brightened,
    brightened_views,
    detect_photos,
    is_dim,
    tilted_views,
    turned_views,
    zoomed_views,
)

#: The astronaut's face box as MTCNN finds it on the clean photo (tests/test_faces.py checks it).
ASTRONAUT_FACE = np.array([179.2, 62.3, 267.0, 173.7])


@pytest.fixture(scope="module")
def mtcnn(one_torch_thread):
    return create_detector("mtcnn", device="cpu")


def centre_in(found: FaceDetections, box: np.ndarray) -> bool:
    """One face found, its box centre inside ``box``."""
    if len(found) != 1:
        return False
    cx, cy = (found.boxes[0, :2] + found.boxes[0, 2:]) / 2
    return bool(box[0] <= cx <= box[2] and box[1] <= cy <= box[3])


def darkened(image: np.ndarray, factor: float) -> np.ndarray:
    """Under-exposed (values scaled by ``factor``), through a JPEG round trip like a real photo."""
    dark = (image * factor).round().astype(np.uint8)
    _, encoded = cv2.imencode(".jpg", dark, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)


def flattened(image: np.ndarray, factor: float) -> np.ndarray:
    """Low contrast (haze): deviations from mid-grey scaled by ``factor``."""
    return ((image.astype(np.float32) - 128) * factor + 128).round().clip(0, 255).astype(np.uint8)


def shrunk(image: np.ndarray, factor: float) -> np.ndarray:
    return cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)


def in_large_photo(astronaut: np.ndarray, face_side: int) -> tuple[np.ndarray, np.ndarray]:
    """The astronaut shrunk so her face is ``face_side`` px, pasted into a 4032 x 3024 photo of
    a coffee cup (a phone photo with a small face); the face box in it."""
    from skimage import data

    factor = face_side / (ASTRONAUT_FACE[3] - ASTRONAUT_FACE[1])
    small = shrunk(astronaut, factor)
    canvas = cv2.resize(data.coffee(), (4032, 3024), interpolation=cv2.INTER_LINEAR)
    x, y = 2400, 900
    canvas[y : y + small.shape[0], x : x + small.shape[1]] = small
    return canvas, ASTRONAUT_FACE * factor + [x, y, x, y]


def test_small_face_in_a_large_photo_is_found_by_the_zoomed_look(mtcnn, astronaut):
    photo, face = in_large_photo(astronaut, 120)
    assert len(mtcnn.detect([photo])[0]) == 0  # shrunk to 640 px, the face is below 40 px
    found = detect_photos(mtcnn, [photo])[0]
    assert centre_in(found, face)
    assert 0.6 < (found.boxes[0, 3] - found.boxes[0, 1]) / (face[3] - face[1]) < 1.6


def test_tiny_photo_is_found_enlarged(mtcnn, astronaut):
    tiny = shrunk(astronaut, 0.22)  # 113 px, a 24 px face
    assert len(mtcnn.detect([tiny])[0]) == 0
    assert centre_in(detect_photos(mtcnn, [tiny])[0], ASTRONAUT_FACE * 0.22)


def test_tight_face_crops_smaller_than_the_smallest_face_are_found():
    """scikit-image's LFW face crops (25 x 25): too small to be detected at all before."""
    from skimage import data

    crops = (data.lfw_subset()[:8] * 255).round().astype(np.uint8)
    photos = [np.repeat(crop[..., None], 3, axis=2) for crop in crops]
    detector = create_detector("mtcnn", device="cpu")
    assert all(len(found) == 0 for found in detector.detect(photos))
    found = detect_photos(detector, photos)
    assert sum(centre_in(f, np.array([0, 0, 25, 25])) for f in found) >= 6


@pytest.mark.parametrize(
    "edit",
    [lambda im: darkened(im, 0.07), lambda im: flattened(im, 0.12)],
    ids=["under-exposed", "low-contrast"],
)
def test_dark_or_flat_photo_is_found_brightened(mtcnn, astronaut, edit):
    photo = edit(astronaut)
    assert is_dim(photo) and not is_dim(astronaut)
    assert len(mtcnn.detect([photo])[0]) == 0
    assert centre_in(detect_photos(mtcnn, [photo])[0], ASTRONAUT_FACE)


def test_sideways_photo_is_found_turned_with_its_landmarks_mapped_back(mtcnn, astronaut):
    upright = mtcnn.detect([astronaut])[0]
    sideways = np.ascontiguousarray(np.rot90(astronaut))  # a photo stored a quarter turn off
    assert len(mtcnn.detect([sideways])[0]) == 0
    found = detect_photos(mtcnn, [sideways])[0]
    width = astronaut.shape[1]
    # np.rot90 sends (x, y) to (y, width - x).
    expected = np.stack([upright.landmarks[0, :, 1], width - upright.landmarks[0, :, 0]], axis=1)
    assert len(found) == 1 and np.abs(found.landmarks[0] - expected).max() < 8
    x1, y1, x2, y2 = upright.boxes[0]
    assert np.abs(found.boxes[0] - [y1, width - x2, y2, width - x1]).max() < 10


def test_no_face_photos_stay_empty(mtcnn):
    from skimage import data

    photos = [data.coffee(), data.rocket(), data.chelsea()]
    photos += [darkened(photos[0], 0.1), flattened(photos[1], 0.15), shrunk(photos[2], 0.15)]
    assert all(len(found) == 0 for found in detect_photos(mtcnn, photos))


def test_found_photos_get_no_second_look(mtcnn, astronaut):
    """A photo with a face found at once comes back exactly as the detector gave it."""
    alone = mtcnn.detect([astronaut])[0]
    found = detect_photos(mtcnn, [astronaut])[0]
    np.testing.assert_array_equal(found.boxes, alone.boxes)
    np.testing.assert_array_equal(found.landmarks, alone.landmarks)


def test_search_can_turn_each_look_off(mtcnn, astronaut):
    sideways = np.ascontiguousarray(np.rot90(astronaut))
    assert len(detect_photos(mtcnn, [sideways], PhotoSearch(turn=False, tilt=0))[0]) == 0
    dark = darkened(astronaut, 0.07)
    assert len(detect_photos(mtcnn, [dark], PhotoSearch(brighten=False, turn=False, tilt=0))[0]) == 0
    tiny = shrunk(astronaut, 0.22)
    assert len(detect_photos(mtcnn, [tiny], PhotoSearch(zoom=0, turn=False, tilt=0))[0]) == 0


def tilted_astronaut(astronaut: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """The astronaut turned ``degrees`` counter-clockwise in the image plane (same size, edges
    mirrored) and where her face's centre went."""
    height, width = astronaut.shape[:2]
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    photo = cv2.warpAffine(astronaut, turn, (width, height), borderMode=cv2.BORDER_REFLECT)
    centre = (ASTRONAUT_FACE[:2] + ASTRONAUT_FACE[2:]) / 2
    return photo, turn @ [*centre, 1]


def test_a_strongly_tilted_head_is_found_by_the_tilted_look(mtcnn, astronaut):
    photo, centre = tilted_astronaut(astronaut, 60)
    assert len(mtcnn.detect([photo])[0]) == 0  # 60 degrees off upright: beyond MTCNN
    only_tilt = PhotoSearch(zoom=0, brighten=False, turn=False)
    assert len(detect_photos(mtcnn, [photo], PhotoSearch(zoom=0, brighten=False, turn=False, tilt=0))[0]) == 0
    found = detect_photos(mtcnn, [photo], only_tilt)[0]  # turned back 30 degrees, it is found
    assert len(found) == 1
    np.testing.assert_allclose((found.boxes[0, :2] + found.boxes[0, 2:]) / 2, centre, atol=15)
    np.testing.assert_allclose(found.landmarks[0].mean(0), centre, atol=20)


def test_tilted_views_hold_the_whole_photo_and_map_back():
    photo = np.full((40, 60, 3), 30, np.uint8)
    photo[10, 45] = 255  # one bright pixel to follow
    views = tilted_views(photo, 30.0, small_side=120)
    assert len(views) == 2
    for view in views:
        height, width = view.image.shape[:2]
        assert min(height, width) >= 120  # enlarged 3x before turning, then a larger canvas
        y, x = np.unravel_index(np.argmax(view.image[..., 0]), (height, width))
        np.testing.assert_allclose(view.to_photo @ [x + 0.5, y + 0.5, 1], [45.5, 10.5], atol=1.0)
        corners = np.array([[0, 0, 1], [width, height, 1]]) @ view.to_photo.T
        assert corners.min() < 0 and corners.max() > 60  # the canvas reaches past the photo: nothing cut off
    large = tilted_views(np.zeros((300, 400, 3), np.uint8), 30.0, small_side=120)
    turned_size = (round(300 * np.cos(np.pi / 6) + 400 * 0.5), round(300 * 0.5 + 400 * np.cos(np.pi / 6)))
    assert large[0].image.shape[:2] == turned_size


def test_zoomed_views_cover_the_photo_and_map_back():
    photo = np.zeros((3024, 4032, 3), np.uint8)
    views = zoomed_views(photo, PhotoSearch(zoom=2.0), detect_side=640)
    assert len({v.image.shape for v in views}) == 1 and views[0].image.shape == (640, 640, 3)
    corners = []
    for view in views:
        h, w = view.image.shape[:2]
        corners.append(np.array([[0, 0, 1], [w, h, 1]]) @ view.to_photo.T)
    corners = np.concatenate(corners)
    np.testing.assert_allclose(corners.min(0), [0, 0], atol=1)
    np.testing.assert_allclose(corners.max(0), [4032, 3024], atol=4)
    assert zoomed_views(np.zeros((300, 300, 3), np.uint8), PhotoSearch(zoom=1.0, small_side=100), 640) == []


def test_a_tight_crop_is_padded_before_it_is_enlarged():
    crop = zoomed_views(np.zeros((48, 48, 3), np.uint8), PhotoSearch(zoom=3.0, pad=0.2), detect_side=640)
    assert len(crop) == 1 and crop[0].image.shape == (204, 204, 3)  # 10 px border each side, then x3
    np.testing.assert_allclose(np.array([[0, 0, 1], [204, 204, 1]]) @ crop[0].to_photo.T, [[-10, -10], [58, 58]])


def test_a_detector_that_never_shrinks_gets_a_bounded_zoom(astronaut):
    unshrunk = create_detector("mtcnn", device="cpu", max_detect_side=0)
    tiny = shrunk(astronaut, 0.22)
    assert len(unshrunk.detect([tiny])[0]) == 0
    assert centre_in(detect_photos(unshrunk, [tiny])[0], ASTRONAUT_FACE * 0.22)
    assert zoomed_views(np.zeros((3000, 4000, 3), np.uint8), PhotoSearch(), detect_side=0) == []


def test_large_sideways_photo_is_turned_at_detection_scale_and_mapped_back(mtcnn, astronaut):
    big = cv2.resize(astronaut, (2048, 2048), interpolation=cv2.INTER_CUBIC)  # 4x
    found = detect_photos(mtcnn, [np.ascontiguousarray(np.rot90(big))])[0]
    x1, y1, x2, y2 = ASTRONAUT_FACE * 4
    assert len(found) == 1
    np.testing.assert_allclose(found.boxes[0], [y1, 2048 - x2, y2, 2048 - x1], atol=40)


def test_turned_views_map_points_back():
    photo = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)  # height 4, width 6
    for view in turned_views(photo):
        h, w = view.image.shape[:2]
        assert (h, w) == (6, 4)
        for y in range(h):
            for x in range(w):
                # the centre of pixel (x, y) of the view lands on the centre of the photo pixel it came from
                px, py = view.to_photo @ [x + 0.5, y + 0.5, 1]
                np.testing.assert_array_equal(view.image[y, x], photo[int(py), int(px)])


def test_only_dim_photos_get_a_brightened_view(astronaut):
    assert brightened_views(astronaut) == []
    assert len(brightened_views(darkened(astronaut, 0.1))) == 1


def test_brightened_stretches_a_dark_photo(astronaut):
    dark = (astronaut * 0.08).astype(np.uint8)
    bright = brightened(dark)
    assert bright.dtype == np.uint8 and bright.shape == dark.shape
    assert np.median(bright) > 80 > np.median(dark) * 4


def test_mapped_detections_follow_the_matrix():
    found = FaceDetections.from_arrays(
        np.array([[10, 20, 30, 60]]), np.array([0.95]), np.arange(10, dtype=np.float32).reshape(1, 5, 2)
    )
    moved = found.mapped(np.array([[2, 0, 5], [0, 2, -1]]))
    np.testing.assert_allclose(moved.boxes, [[25, 39, 65, 119]])
    np.testing.assert_allclose(moved.landmarks[0, 1], [2 * 2 + 5, 3 * 2 - 1])
    turned = found.mapped(np.array([[0, -1, 100], [1, 0, 0]]))  # box corners swap: still x1 < x2
    np.testing.assert_allclose(turned.boxes, [[40, 10, 80, 30]])
    assert len(FaceDetections.empty().mapped(np.eye(2, 3))) == 0


def test_recognizer_predict_looks_again_but_its_detector_does_not(astronaut):
    """``predict`` (photos) gets the looks; ``recognizer.detector.detect``, which the video
    analyzer calls on every frame it detects, stays one plain detection."""
    from fer_video import EmotionRecognizer

    photo, face = in_large_photo(astronaut, 120)
    recognizer = EmotionRecognizer(device="cpu", backend="torch")
    results = recognizer.predict(photo)
    assert len(results) == 1
    cx, cy = (results[0].box[0] + results[0].box[2]) / 2, (results[0].box[1] + results[0].box[3]) / 2
    assert face[0] <= cx <= face[2] and face[1] <= cy <= face[3]
    assert len(recognizer.detector.detect([photo])[0]) == 0
    assert EmotionRecognizer(device="cpu", backend="torch", photo_search=None).predict(photo) == []


def test_a_tile_drops_faces_cut_by_its_inner_edges():
    view = View(np.zeros((100, 100, 3), np.uint8), np.eye(2, 3), cut=(False, False, True, False))
    found = FaceDetections.from_arrays(np.array([[10, 10, 50, 50], [70, 10, 100, 50]]), np.array([0.99, 0.99]))
    np.testing.assert_allclose(view.faces(found).boxes, [[10, 10, 50, 50]])  # the right edge is inside the photo
    whole = View(view.image, np.eye(2, 3))
    assert len(whole.faces(found)) == 2  # the photo's own edge
