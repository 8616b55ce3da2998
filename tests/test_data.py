"""FER2013 readers: image folder, zip and csv on tiny generated data; errors; cache."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fer_video.constants import CLASSES
from fer_video.data import DataError, load_fer2013
from fer_video.data import fer2013 as fer2013_module
from synthetic_fer import write_csv, write_image_folder, zip_folder

PER_CLASS = 2


def grey_level(label: int) -> int:
    return 20 + 30 * label


def constant_faces(per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat images whose grey level encodes the class, so a mislabelled image is easy to spot."""
    labels = np.repeat(np.arange(len(CLASSES)), per_class)
    images = np.stack([np.full((48, 48), grey_level(label), dtype=np.uint8) for label in labels])
    return images, labels


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_VIDEO_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {"training": constant_faces(PER_CLASS), "publictest": constant_faces(PER_CLASS)}


@pytest.fixture
def folder(tmp_path, splits):
    return write_image_folder(tmp_path / "fer_folder", splits)


def assert_labels_match_pixels(faces) -> None:
    assert faces.images.dtype == np.uint8 and faces.images.shape[1:] == (48, 48)
    assert faces.labels.dtype == np.int64
    expected = np.array([grey_level(label) for label in faces.labels])
    assert np.abs(faces.images.mean(axis=(1, 2)) - expected).max() < 3  # jpeg may shift a flat image slightly


def test_folder_reads_both_splits_with_labels(folder):
    data = load_fer2013(folder, use_cache=False)
    assert set(data) == {"training", "publictest"}  # privatetest is absent, and not asked for
    for faces in data.values():
        assert len(faces) == PER_CLASS * len(CLASSES)
        assert faces.class_counts() == {name: PER_CLASS for name in CLASSES}
        assert_labels_match_pixels(faces)


def test_zip_matches_folder(folder, tmp_path):
    archive = zip_folder(folder, tmp_path / "fer2013.zip")
    from_zip, from_folder = load_fer2013(archive, use_cache=False), load_fer2013(folder, use_cache=False)
    assert set(from_zip) == set(from_folder)
    for split in from_zip:
        np.testing.assert_array_equal(from_zip[split].images, from_folder[split].images)
        np.testing.assert_array_equal(from_zip[split].labels, from_folder[split].labels)


def test_csv_maps_labels_and_usage(tmp_path):
    images, labels = constant_faces(1)
    csv_path = write_csv(tmp_path / "fer2013.csv", {"training": (images, labels), "privatetest": (images, labels)})
    rows = csv_path.read_text().splitlines()[1:]
    csv_labels = [int(row.split(",")[0]) for row in rows[: len(CLASSES)]]
    assert csv_labels[CLASSES.index("sad")] == 4 and csv_labels[CLASSES.index("neutral")] == 6

    data = load_fer2013(csv_path, use_cache=False)
    assert set(data) == {"training", "privatetest"}
    np.testing.assert_array_equal(data["training"].labels, labels)
    np.testing.assert_array_equal(data["training"].images, images)  # csv pixels are exact
    assert_labels_match_pixels(data["privatetest"])


def test_split_selection_and_missing_split(folder):
    data = load_fer2013(folder, splits=["PublicTest"], use_cache=False)
    assert list(data) == ["publictest"]
    with pytest.raises(DataError, match=r"privatetest.*not found.*available"):
        load_fer2013(folder, splits=["privatetest"], use_cache=False)
    with pytest.raises(DataError, match="unknown split"):
        load_fer2013(folder, splits=["validation"], use_cache=False)


def test_missing_path(tmp_path):
    with pytest.raises(DataError, match="data path not found"):
        load_fer2013(tmp_path / "nowhere.zip")


def test_unknown_layout_file(tmp_path):
    text = tmp_path / "faces.txt"
    text.write_text("not a data set")
    with pytest.raises(DataError, match="unknown data layout"):
        load_fer2013(text)


def test_csv_malformed_row_names_its_row(tmp_path):
    images, labels = constant_faces(1)
    csv_path = write_csv(tmp_path / "fer2013.csv", {"training": (images, labels)})
    lines = csv_path.read_text().splitlines()
    lines[2] = "3,1 2 3,Training"  # the second data row: 3 pixels instead of 2304
    csv_path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="row 3: expected 2304 pixel values"):
        load_fer2013(csv_path, use_cache=False)


def test_csv_bad_label_and_header(tmp_path):
    bad_label = tmp_path / "bad_label.csv"
    bad_label.write_text("emotion,pixels,Usage\n9," + " ".join(["0"] * 2304) + ",Training\n")
    with pytest.raises(DataError, match="row 2: emotion label 9"):
        load_fer2013(bad_label, use_cache=False)
    no_header = tmp_path / "no_header.csv"
    no_header.write_text("label,image\n0,1\n")
    with pytest.raises(DataError, match="expected a header with columns emotion,pixels"):
        load_fer2013(no_header, use_cache=False)


def test_unknown_class_folder(folder):
    (folder / "train" / "joy").mkdir()
    Image.new("L", (48, 48)).save(folder / "train" / "joy" / "Training_999.jpg")
    with pytest.raises(DataError, match="unknown class folder 'joy'"):
        load_fer2013(folder, use_cache=False)


def test_undecodable_image(folder):
    (folder / "train" / "happy" / "Training_broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="cannot decode image"):
        load_fer2013(folder, use_cache=False)


def test_second_load_comes_from_cache(folder, tmp_path, monkeypatch):
    cache = tmp_path / "cache_here"
    first = load_fer2013(folder, cache_dir=cache)
    assert len(list(cache.glob("fer2013-*.npz"))) == 1

    def no_decoding(source):
        raise AssertionError(f"{source} was decoded again instead of read from the cache")

    monkeypatch.setattr(fer2013_module, "_decode", no_decoding)
    second = load_fer2013(folder, cache_dir=cache)
    assert set(second) == set(first)
    for split in first:
        np.testing.assert_array_equal(second[split].images, first[split].images)
        np.testing.assert_array_equal(second[split].labels, first[split].labels)
