"""``fer-video eval-photos``: labelled photos through detection, alignment and the CNN, scored per class."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fer_video.cli import main
from fer_video.constants import CLASSES
from fer_video.evaluate.photos import (
    NO_FACE,
    PREDICTION_COLUMNS,
    class_of,
    photo_metrics,
    read_labelled_photos,
    render_photo_report,
)
from fer_video.recognizer import EmotionRecognizer


@pytest.fixture(scope="module")
def astronaut_label(astronaut) -> str:
    """What the shipped model calls the astronaut's face."""
    return EmotionRecognizer().predict(astronaut)[0].label


@pytest.fixture()
def photo_folder(tmp_path, astronaut, astronaut_label):
    """<label>/ folders: the astronaut under the label the model gives her and under another one, a wall
    under sad (no face), a broken file, and a contempt photo (not one of the 7 classes)."""
    other = next(name for name in CLASSES if name not in (astronaut_label, "sad", "fear"))
    broken_label = "fear" if astronaut_label != "fear" else "angry"
    for label, name, image in (
        (astronaut_label, "right.png", astronaut),
        (other, "wrong.png", astronaut),
        ("sad", "wall.png", np.full((240, 320, 3), 180, np.uint8)),
        ("contempt", "smirk.png", astronaut),
    ):
        (tmp_path / "photos" / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(tmp_path / "photos" / label / name)
    (tmp_path / "photos" / broken_label).mkdir(exist_ok=True)
    (tmp_path / "photos" / broken_label / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    return tmp_path / "photos", other


def test_labels_match_the_classes_by_name_or_synonym():
    assert [class_of(name) for name in ("Anger", "happiness", " Surprised", "fearful", "sad")] == [
        "angry", "happy", "surprise", "fear", "sad"
    ]
    assert class_of("contempt") is None


def test_labelled_photos_from_a_csv(tmp_path, astronaut):
    Image.fromarray(astronaut).save(tmp_path / "a.png")
    (tmp_path / "labels.csv").write_text("file,label\na.png,Happiness\na.png,Contempt\na.png,SAD\n")
    photos = read_labelled_photos(tmp_path / "labels.csv")
    assert photos.files == [tmp_path / "a.png"] * 2 and photos.labels == ["happy", "sad"]
    assert photos.skipped == {"Contempt": 1}
    (tmp_path / "none.csv").write_text("file,label\na.png,contempt\n")
    with pytest.raises(ValueError, match="no photo is labelled"):
        read_labelled_photos(tmp_path / "none.csv")


def test_scores_count_a_photo_without_a_face_as_wrong(photo_folder, astronaut_label, tmp_path, capsys):
    folder, other = photo_folder
    out = tmp_path / "eval"
    assert main(["eval-photos", str(folder), "--out", str(out)]) == 1  # the broken file is reported, the rest scored
    captured = capsys.readouterr()
    assert "could not read" in captured.err and "broken.jpg" in captured.err and "Traceback" not in captured.err
    assert "No face found on **33.3 %**" in captured.out

    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert metrics["photos"] == 4 and metrics["unreadable"] == 1 and metrics["skipped_labels"] == {"contempt": 1}
    assert metrics["no_face_rate"] == pytest.approx(1 / 3) and metrics["accuracy_end_to_end"] == pytest.approx(1 / 3)
    per_class = metrics["per_class"]
    assert per_class[astronaut_label]["recall_end_to_end"] == 1.0 and per_class[other]["recall_end_to_end"] == 0.0
    assert per_class["sad"] == {"photos": 1, "no_face_rate": 1.0, "recall_end_to_end": 0.0}
    found = metrics["faces_found"]
    assert found["n_images"] == 2 and found["accuracy"] == 0.5
    assert np.array(found["confusion_matrix"]).sum() == 2

    predictions = pd.read_csv(out / "predictions.csv", keep_default_na=False)
    by_file = {row.file.rsplit("/", 1)[-1]: row for row in predictions.itertuples()}
    assert by_file["right.png"].predicted == by_file["wrong.png"].predicted == astronaut_label
    assert by_file["wall.png"].predicted == NO_FACE and by_file["wall.png"].faces == 0
    assert by_file["broken.jpg"].error and not by_file["broken.jpg"].predicted
    assert (out / "confusion_matrix.png").stat().st_size > 0
    assert "| sad | 1 | 100.0 % |" in (out / "report.md").read_text()


def test_photos_without_any_face_are_scored_without_a_confusion_matrix():
    predictions = pd.DataFrame(
        [["a.png", "sad", 0, NO_FACE, np.nan, ""], ["b.png", "happy", 0, "", np.nan, "not an image"]],
        columns=PREDICTION_COLUMNS,
    )
    metrics = photo_metrics(predictions)
    assert metrics["faces_found"] is None and metrics["unreadable"] == 1
    assert metrics["no_face_rate"] == 1.0 and metrics["per_class"]["happy"]["photos"] == 0
    report = render_photo_report({key: "-" for key in ("source", "model", "weights", "backend", "detector", "date",
                                                       "commit", "machine", "command")} | {"metrics": metrics})
    assert "no face was found on any photo" in report and "confusion_matrix.png" not in report


def test_an_earlier_evaluation_is_kept_without_overwrite(photo_folder, tmp_path, capsys):
    folder, _ = photo_folder
    out = tmp_path / "eval"
    main(["eval-photos", str(folder), "--out", str(out)])
    before = (out / "metrics.json").read_bytes()
    assert main(["eval-photos", str(folder), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err and (out / "metrics.json").read_bytes() == before


def test_missing_photos_are_a_one_line_error(tmp_path, capsys):
    assert main(["eval-photos", str(tmp_path / "nowhere"), "--out", str(tmp_path / "eval")]) == 2
    err = capsys.readouterr().err
    assert "labelled photos not found" in err and "Traceback" not in err
