"""``fer-video image`` end to end on real photos and broken files built in tmp_path."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fer_video.cli import main
from fer_video.constants import CLASSES
from test_pretrained import write_tiny_model


@pytest.fixture()
def photos(tmp_path, astronaut):
    """A folder with two good photos (one with a face, one without) and a broken one."""
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(astronaut).save(folder / "astronaut.jpg")
    Image.fromarray(np.full((240, 320, 3), 180, np.uint8)).save(folder / "wall.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    (folder / "notes.txt").write_text("not an image, and not picked up from a folder")
    return folder


def test_folder_batch_goes_on_past_a_broken_file(photos, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["image", str(photos), "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert f"not an image or corrupt: {photos / 'broken.jpg'}" in captured.err
    assert "1 input(s) failed" in captured.err and "notes.txt" not in captured.err
    assert "astronaut.jpg: 1 face" in captured.out and "wall.png: 0 faces" in captured.out
    table = pd.read_csv(out / "emotions.csv")
    assert list(table.columns) == ["file", "face", "x1", "y1", "x2", "y2", "score", *CLASSES, "label", "confidence"]
    assert table.file.tolist() == [str(photos / "astronaut.jpg")]
    assert np.allclose(table[list(CLASSES)].sum(axis=1), 1, atol=1e-3)
    assert sorted(p.name for p in out.iterdir()) == ["astronaut_annotated.jpg", "emotions.csv", "wall_annotated.png"]
    assert Image.open(out / "astronaut_annotated.jpg").size == (512, 512)


def test_outputs_are_not_overwritten_without_flag(photos, tmp_path, capsys):
    out = tmp_path / "out"
    good = str(photos / "astronaut.jpg")
    assert main(["image", good, "--out", str(out)]) == 0
    before = (out / "emotions.csv").read_bytes()
    assert main(["image", good, "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "emotions.csv").read_bytes() == before
    assert main(["image", good, "--out", str(out), "--overwrite"]) == 0


def test_json_output_and_missing_inputs(photos, capsys):
    code = main(["image", str(photos / "*.jpg"), str(photos / "missing.png"), str(photos / "*.webp"), "--json"])
    assert code == 1
    captured = capsys.readouterr()
    report = {entry["file"]: entry for entry in json.loads(captured.out)}
    assert len(report[str(photos / "astronaut.jpg")]["faces"]) == 1
    assert report[str(photos / "astronaut.jpg")]["faces"][0]["label"] in CLASSES
    assert "not an image or corrupt" in report[str(photos / "broken.jpg")]["error"]
    assert "file not found" in report[str(photos / "missing.png")]["error"]
    assert "no files match" in report[str(photos / "*.webp")]["error"]
    assert "3 input(s) failed" in captured.err


def test_no_detect_classifies_the_whole_image(tmp_path, astronaut, capsys):
    crop = tmp_path / "face.png"
    Image.fromarray(astronaut[50:190, 160:290]).save(crop)
    assert main(["image", str(crop), "--no-detect", "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["faces"][0]["box"] == [0.0, 0.0, 130.0, 140.0]


def test_out_must_be_a_folder(photos, tmp_path, capsys):
    taken = tmp_path / "file.txt"
    taken.write_text("x")
    assert main(["image", str(photos / "astronaut.jpg"), "--out", str(taken)]) == 2
    assert "--out must be a folder" in capsys.readouterr().err


def test_model_fast_runs_the_fast_cnn(tmp_path, astronaut, monkeypatch, capsys):
    models = tmp_path / "models"
    models.mkdir()
    write_tiny_model(models, "fast")
    monkeypatch.setenv("FER_VIDEO_MODELS", str(models))
    crop = tmp_path / "face.png"
    Image.fromarray(astronaut[50:190, 160:290]).save(crop)
    common = ["image", str(crop), "--no-detect", "--json", "--device", "cpu", "--backend", "torch"]
    reports = []
    for extra in (["--model", "fast"], ["--weights", str(models / "emotion_cnn_fast.pt")]):
        assert main([*common, *extra]) == 0
        reports.append(json.loads(capsys.readouterr().out)[0]["faces"][0])
    assert reports[0] == reports[1]
    assert main(common) == 2  # the default, standard, is not in this models folder
    assert f"weights file not found: {models / 'emotion_cnn.pt'}" in capsys.readouterr().err
    (models / "emotion_cnn_fast.pt").unlink()
    assert main([*common, "--model", "fast"]) == 2
    error = capsys.readouterr().err
    assert f"weights file not found: {models / 'emotion_cnn_fast.pt'}" in error and "Traceback" not in error


@pytest.mark.parametrize("command", ["image", "video", "batch", "app"])
def test_unknown_model_is_a_clear_error(command, tmp_path, capsys):
    args = [command, "--model", "huge"] + ([] if command == "app" else [str(tmp_path / "x")])
    if command in ("video", "batch"):
        args += ["--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "--model: invalid choice: 'huge'" in error and "standard" in error and "fast" in error
    assert "Traceback" not in error
