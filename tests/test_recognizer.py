"""EmotionRecognizer and image loading on a real photo (scikit-image's astronaut) and edge cases."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from fer_video import CLASSES, EmotionRecognizer
from fer_video.data import load_fer2013
from fer_video.imaging import ImageLoadError, annotate_image, load_image
from fer_video.recognizer import FaceResult, results_table

EXIF_ORIENTATION = 0x0112


@pytest.fixture(scope="module")
def recognizer() -> EmotionRecognizer:
    return EmotionRecognizer(device="cpu")


def save_exif_rotated(upright: np.ndarray, path) -> None:
    """Store the photo turned 90 degrees with EXIF orientation 6 ("rotate 90 CW to view"), as phones do."""
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    Image.fromarray(np.ascontiguousarray(np.rot90(upright, k=1))).save(path, quality=95, exif=exif)


# ---- image loading -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "file not found"),
        (lambda p: p.write_bytes(b""), r"empty file \(0 bytes\)"),
        (lambda p: p.write_text("just some text"), "not an image or corrupt"),
        (lambda p: p.write_bytes(b"\xff\xd8\xff\xe0" + bytes(200)), "not an image or corrupt"),
        (lambda p: p.mkdir(), "is a folder"),
    ],
    ids=["missing", "empty", "text", "corrupt", "folder"],
)
def test_bad_files_give_clear_errors(tmp_path, make, message):
    path = tmp_path / "photo.jpg"
    make(path)
    with pytest.raises(ImageLoadError, match=message):
        load_image(path)


def test_truncated_jpeg_is_reported_as_corrupt(tmp_path, astronaut):
    whole = tmp_path / "whole.jpg"
    Image.fromarray(astronaut).save(whole)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole.read_bytes()[:2000])
    with pytest.raises(ImageLoadError, match=f"not an image or corrupt: {cut}"):
        load_image(cut)


def test_image_modes_become_rgb_uint8(tmp_path, astronaut):
    gray = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    Image.fromarray(gray).save(tmp_path / "gray.png")
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "gray16.png")
    Image.fromarray(astronaut).convert("P").save(tmp_path / "palette.gif")
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
    rgba[:100, :100, 3] = 0  # transparent corner
    Image.fromarray(rgba).save(tmp_path / "rgba.png")

    for name in ("gray.png", "gray16.png"):
        loaded = load_image(tmp_path / name)
        assert loaded.shape == (512, 512, 3) and loaded.dtype == np.uint8
        np.testing.assert_array_equal(loaded[..., 0], gray)
    palette = load_image(tmp_path / "palette.gif")
    np.testing.assert_array_equal(palette, np.asarray(Image.open(tmp_path / "palette.gif").convert("RGB")))
    assert np.abs(palette.astype(int) - astronaut).mean() < 20
    flattened = load_image(tmp_path / "rgba.png")
    assert (flattened[:100, :100] == 255).all()
    np.testing.assert_array_equal(flattened[200:], astronaut[200:])


def test_arrays_of_any_dtype_become_rgb_uint8(astronaut):
    gray = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    np.testing.assert_array_equal(load_image(gray)[..., 2], gray)
    np.testing.assert_array_equal(load_image(astronaut.astype(np.float32) / 255), astronaut)
    np.testing.assert_array_equal(load_image(astronaut.astype(np.uint16) * 257), astronaut)
    np.testing.assert_array_equal(load_image(gray[..., None]), load_image(gray))
    with pytest.raises(ImageLoadError, match="expected an image array"):
        load_image(np.zeros((4, 5, 6, 7), np.uint8))
    with pytest.raises(ImageLoadError, match="cannot read an image from a int"):
        load_image(3)


def test_exif_rotation_is_applied(tmp_path, astronaut):
    upright = astronaut[:, :400]  # not square, so a missed rotation changes the shape
    save_exif_rotated(upright, tmp_path / "phone.jpg")
    loaded = load_image(tmp_path / "phone.jpg")
    assert loaded.shape == upright.shape
    assert np.abs(loaded.astype(int) - upright).mean() < 4


# ---- recognizer ----------------------------------------------------------------------------


def test_astronaut_gives_one_complete_face(recognizer, astronaut):
    faces = recognizer.predict(astronaut)
    assert len(faces) == 1
    face = faces[0]
    x1, y1, x2, y2 = face.box
    assert 150 <= x1 < x2 <= 300 and 30 <= y1 < y2 <= 200
    assert face.score >= 0.9 and face.landmarks.shape == (5, 2)
    assert tuple(face.probabilities) == recognizer.classes == CLASSES
    assert sum(face.probabilities.values()) == pytest.approx(1, abs=1e-4)
    assert face.label == max(face.probabilities, key=face.probabilities.get)
    assert face.confidence == face.probabilities[face.label]
    assert face.embedding.shape == (recognizer.classifier.embedding_dim,)
    decoded = json.loads(json.dumps(face.to_dict()))
    assert decoded["label"] == face.label and len(decoded["landmarks"]) == 5


def test_path_pil_and_array_give_the_same_result(recognizer, astronaut, tmp_path):
    Image.fromarray(astronaut).save(tmp_path / "astronaut.png")
    from_array, from_path, from_pil = (
        recognizer.predict(source)[0]
        for source in (astronaut, tmp_path / "astronaut.png", Image.open(tmp_path / "astronaut.png"))
    )
    for other in (from_path, from_pil):
        assert other.box == from_array.box and other.label == from_array.label


def test_exif_rotated_photo_gives_the_same_face(recognizer, astronaut, tmp_path):
    upright = astronaut[:, :400]
    save_exif_rotated(upright, tmp_path / "phone.jpg")
    expected = recognizer.predict(upright)[0].box
    found = recognizer.predict(str(tmp_path / "phone.jpg"))
    assert len(found) == 1
    np.testing.assert_allclose(found[0].box, expected, atol=6)


def test_batch_of_mixed_images(recognizer, astronaut):
    faceless = np.full((300, 400, 3), 200, np.uint8)
    smaller = cv2.resize(astronaut, (360, 360))
    batch = recognizer.predict_batch([astronaut, faceless, smaller])
    assert [len(r) for r in batch] == [1, 0, 1]
    assert recognizer.predict(faceless) == []
    frames = recognizer.predict_frames([astronaut, faceless, smaller])
    assert [f.label for r in frames for f in r] == [f.label for r in batch for f in r]


def test_no_detect_takes_the_whole_image_as_the_face(recognizer, astronaut):
    crop = astronaut[50:190, 160:290]
    (face,) = recognizer.predict(crop, detect=False)
    assert face.box == (0.0, 0.0, 130.0, 140.0)


def test_classify_crops_is_well_above_chance_on_fer2013(recognizer, fer2013_path):
    test = load_fer2013(fer2013_path, splits=["publictest"])["publictest"]
    chosen = np.random.default_rng(0).choice(len(test), 400, replace=False)  # the split is sorted by label
    crops, labels = test.images[chosen], test.labels[chosen]
    results = recognizer.classify_crops(crops)
    predicted = np.array([CLASSES.index(r.label) for r in results])
    majority = np.bincount(labels).max() / len(labels)
    assert (predicted == labels).mean() > majority + 0.05
    assert results[0].box == (0.0, 0.0, 48.0, 48.0) and results[0].score == 1.0
    rgb = recognizer.classify_crops(np.repeat(crops[:4, ..., None], 3, axis=3))
    assert [r.label for r in rgb] == [r.label for r in results[:4]]


def test_classify_crops_rejects_wrong_input(recognizer):
    with pytest.raises(ValueError, match="crops must be uint8"):
        recognizer.classify_crops(np.zeros((2, 48, 48), np.float32))
    assert recognizer.classify_crops(np.zeros((0, 48, 48), np.uint8)) == []


def test_haar_recognizer_has_no_landmarks(astronaut):
    (face,) = EmotionRecognizer(detector="haar", device="cpu").predict(astronaut)
    assert np.isnan(face.landmarks).all() and face.to_dict()["landmarks"] is None


def test_bad_margin_is_rejected():
    with pytest.raises(ValueError, match="margin"):
        EmotionRecognizer(margin=5)


def test_results_table_and_annotation(recognizer, astronaut):
    faces = recognizer.predict(astronaut)
    table = results_table([("a.png", faces), ("empty.png", [])])
    assert list(table.columns) == ["file", "face", "x1", "y1", "x2", "y2", "score", *CLASSES, "label", "confidence"]
    assert len(table) == 1 and table.label[0] == faces[0].label
    assert list(results_table([]).columns) == list(table.columns)

    before = astronaut.copy()
    drawn = annotate_image(astronaut, faces)
    np.testing.assert_array_equal(astronaut, before)
    assert drawn.shape == astronaut.shape
    x1, y1, x2, y2 = (round(v) for v in faces[0].box)
    assert (drawn[(y1 + y2) // 2, x1] != astronaut[(y1 + y2) // 2, x1]).any()  # the box's left edge
    assert (drawn[y1 + 10 : y2 - 10, x1 + 10 : x2 - 10] == astronaut[y1 + 10 : y2 - 10, x1 + 10 : x2 - 10]).all()


def test_face_result_dict_has_no_embedding():
    result = FaceResult((0, 0, 1, 1), 1.0, np.full((5, 2), np.nan), {"happy": 1.0}, "happy", 1.0, np.zeros(3))
    assert "embedding" not in result.to_dict()
