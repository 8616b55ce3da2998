"""Clip-crop evaluation: crops cut once with the real detector and cached, metrics per clip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fer_video.cli import main
from fer_video.constants import CLASSES
from fer_video.evaluate.clip_crops import (
    ClipCrops,
    CropSettings,
    clip_crops,
    read_labels,
    score_crops,
    score_probabilities,
    video_crops,
)
from fer_video.pretrained import default_cnn_path
from synthetic_video import blank_frames, face_frames, write_clip


@pytest.fixture
def labelled_clips(astronaut, tmp_path, monkeypatch):
    """A folder like real_video/: a face clip (happy), a clip without a face (sad), a contempt row."""
    monkeypatch.setenv("FER_VIDEO_CACHE", str(tmp_path / "cache"))
    write_clip(tmp_path / "face.mp4", face_frames(astronaut, 8))
    write_clip(tmp_path / "empty.mp4", blank_frames(6))
    labels = tmp_path / "labels.csv"
    labels.write_text("file,label,speaker\nface.mp4,happy,a\nempty.mp4,sad,a\nface.mp4,contempt,a\n")
    return labels


def test_read_labels_skips_classes_outside_the_seven(labelled_clips, tmp_path):
    rows = read_labels(labelled_clips)
    assert [(clip.name, label) for clip, label in rows] == [("face.mp4", "happy"), ("empty.mp4", "sad")]
    (tmp_path / "bad.csv").write_text("file,label\nmissing.mp4,happy\n")
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        read_labels(tmp_path / "bad.csv")


def test_crops_are_cut_once_and_cached(labelled_clips, monkeypatch):
    first = clip_crops(labelled_clips, CropSettings(fps=0))
    assert first.cache_path is not None and first.cache_path.is_file()
    assert first.crops.dtype == np.uint8 and first.crops.shape[1:] == (48, 48)
    assert list(first.frames_analysed) == [8, 6]
    assert 6 <= len(first.crops) <= 8 and set(first.clip.tolist()) == {0}  # the gray clip has no face
    def no_extraction(*args):
        raise RuntimeError("re-extracted")

    monkeypatch.setattr("fer_video.evaluate.clip_crops._extract", no_extraction)
    again = clip_crops(labelled_clips, CropSettings(fps=0))
    assert again.cache_path == first.cache_path and np.array_equal(again.crops, first.crops)
    with pytest.raises(RuntimeError, match="re-extracted"):  # other settings: another cache entry
        clip_crops(labelled_clips, CropSettings(fps=0, margin=0.1))


def test_unlabelled_video_crops_from_a_folder_or_a_glob(labelled_clips, tmp_path, monkeypatch):
    folder = video_crops([str(tmp_path)], CropSettings(fps=0))
    assert folder.files == [str(tmp_path / "empty.mp4"), str(tmp_path / "face.mp4")]
    assert folder.labels == ["", ""] and list(folder.frames_analysed) == [6, 8]
    assert 6 <= len(folder.crops) <= 8 and set(folder.clip.tolist()) == {1}  # faces only in face.mp4
    labelled = clip_crops(labelled_clips, CropSettings(fps=0))
    assert np.array_equal(folder.crops, labelled.crops)  # the same detector and framing as the scored clips

    monkeypatch.setattr("fer_video.evaluate.clip_crops._extract", lambda *args: pytest.fail("re-extracted"))
    again = video_crops([str(tmp_path / "*.mp4"), str(tmp_path / "face.mp4")], CropSettings(fps=0))
    assert again.cache_path == folder.cache_path  # the same clips, each once: the cached crops
    with pytest.raises(ValueError, match="no video clips found"):
        video_crops([str(tmp_path / "*.mkv")])


def test_metrics_per_clip_and_over_clips():
    crops = ClipCrops(
        crops=np.zeros((5, 48, 48), np.uint8),
        clip=np.array([0, 0, 0, 1, 1]),
        frame=np.arange(5),
        files=["a.mp4", "b.mp4", "c.mp4"],
        labels=["happy", "sad", "fear"],
        frames_analysed=np.array([3, 2, 4]),
        settings=CropSettings(),
    )
    probabilities = np.full((5, len(CLASSES)), 0.05)
    happy, sad, angry = CLASSES.index("happy"), CLASSES.index("sad"), CLASSES.index("angry")
    for row, top in enumerate([happy, happy, angry, angry, sad]):
        probabilities[row, top] = 0.7
    probabilities[3, angry] = 0.9  # clip b: one frame right, but angry dominates the mean
    result = score_probabilities(crops, probabilities)
    a, b, c = result.clips
    assert a["frame_accuracy"] == pytest.approx(2 / 3) and a["dominant"] == "happy" and a["dominant_correct"]
    assert b["frame_accuracy"] == pytest.approx(0.5) and b["dominant"] == "angry" and not b["dominant_correct"]
    assert c["frames_with_face"] == 0 and np.isnan(c["frame_accuracy"])
    assert a["predicted_counts"] == {"angry": 1, "happy": 2}
    summary = result.summary
    assert summary["clips"] == 3 and summary["clips_with_faces"] == 2
    assert summary["mean_clip_frame_accuracy"] == pytest.approx((2 / 3 + 0.5) / 2)
    assert summary["pooled_frame_accuracy"] == pytest.approx(3 / 5)
    assert summary["dominant_accuracy"] == pytest.approx(0.5)


def test_cli_scores_a_checkpoint_and_keeps_outputs(labelled_clips, tmp_path, capsys):
    out = tmp_path / "scores.json"
    weights = str(default_cnn_path("fast"))
    args = ["eval-crops", "--labels", str(labelled_clips), "--weights", weights, "--fps", "0", "--out", str(out)]
    assert main(args) == 0
    document = json.loads(out.read_text())
    summary = document["scores"][weights]["summary"]
    crops = clip_crops(labelled_clips, CropSettings(fps=0))
    assert summary == pytest.approx(score_crops(crops, weights).summary, nan_ok=True)
    assert "mean_clip_frame_accuracy" in capsys.readouterr().out
    assert main(args) == 2 and "--overwrite" in capsys.readouterr().err  # the output is kept
    assert main(["eval-crops", "--labels", str(tmp_path / "none.csv")]) == 2


def test_cli_frames_the_crops_with_the_margin_asked_for(labelled_clips, tmp_path, capsys):
    out = tmp_path / "tight.json"
    args = ["eval-crops", "--labels", str(labelled_clips), "--weights", str(default_cnn_path("fast")), "--fps", "0"]
    assert main([*args, "--margin", "-0.15", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["settings"]["margin"] == pytest.approx(-0.15)
    tight = clip_crops(labelled_clips, CropSettings(fps=0, margin=-0.15))
    default = clip_crops(labelled_clips, CropSettings(fps=0))
    assert tight.cache_path != default.cache_path and not np.array_equal(tight.crops, default.crops)
    capsys.readouterr()
    assert main([*args, "--margin", "-0.5"]) == 2 and "--margin must be above -0.5" in capsys.readouterr().err
