"""``fer-video eval-video``: its figures are those of the real pipeline's outputs on the same clip."""

from __future__ import annotations

import numpy as np
import onnxruntime
import pandas as pd
import pytest
from test_video import astronaut_frames, write_video

from fer_video.checkpoint import hardware_description
from fer_video.cli import main
from fer_video.constants import CLASSES
from fer_video.video import VideoOptions, annotate_video
from fer_video.recognizer import EmotionRecognizer
from fer_video.video.errors import VideoError
from fer_video.video.evaluation import (
    ClipTrace, ClipSet, clip_scores, read_clip_set, trace_clip_set, trace_key, trace_runtime,
)  # fmt: skip


@pytest.fixture(scope="module")
def clips(astronaut, tmp_path_factory):
    """A labelled folder (labels.csv naming one clip 'happy', one 'contempt', outside the classes)
    and a clip with no face."""
    folder = tmp_path_factory.mktemp("clips")
    write_video(folder / "face.mp4", astronaut_frames(astronaut, 24))
    write_video(folder / "other.mp4", astronaut_frames(astronaut, 12))
    write_video(folder / "empty.mp4", [np.full((240, 320, 3), 90, np.uint8)] * 10)
    (folder / "labels.csv").write_text("file,label\nface.mp4,happy\nother.mp4,contempt\n")
    return folder


def test_clip_scores_count_switches_exactly():
    present = np.array([True, True, False, True, True, True, True, True, True, True])
    labels = np.array([3, 3, 0, 0, 3, 3, 4, 4, 4, 3])  # frame 2 is missed: 3,3,0,3,3,4,4,4,3 -> 4 changes
    trace = ClipTrace("x", np.arange(10) * 0.1, present, present, np.zeros((10, 7)), np.zeros((10, 1)), 0.1, 1)
    scores = clip_scores(trace, labels, CLASSES.index("happy"), 7)
    assert scores["switches_per_min"] * trace.duration_s / 60 == pytest.approx(4)
    assert scores["frame_acc"] == pytest.approx(5 / 9) and scores["dominant"] == 3 and scores["dominant_ok"] == 1.0
    assert scores["face_share"] == pytest.approx(0.9)


def test_read_clip_set_errors(clips, tmp_path):
    labelled = read_clip_set(str(clips / "labels.csv"), CLASSES)
    assert [label for _, label in labelled.clips] == ["happy", None]  # contempt is not a class: unlabelled
    assert len(read_clip_set(str(clips), CLASSES).clips) == 3
    (tmp_path / "bad.csv").write_text("name,emotion\nx.mp4,happy\n")
    for spec, message in ((tmp_path / "bad.csv", "file,label"), (tmp_path / "none.csv", "not found"),
                          (tmp_path / "*.mp4", "no video clips")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            read_clip_set(str(spec), CLASSES)


def main_track_rows(out) -> pd.DataFrame:
    timeline = pd.read_csv(out / "timeline.csv")
    main_track = timeline["track_id"].value_counts().idxmax()
    return timeline[timeline["track_id"] == main_track].reset_index(drop=True)


@pytest.mark.usefixtures("one_torch_thread")
def test_eval_video_scores_what_the_video_command_shows(clips, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FER_VIDEO_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "report"
    args = ["eval-video", str(clips / "labels.csv"), str(clips / "empty.mp4"), "--out", str(out), "--fps", "10",
            "--smoothing", "hmm", "hmm-online", "none", "ema-tuned", "--backend", "torch"]  # fmt: skip
    assert main(args) == 0
    assert {p.name for p in out.iterdir()} == {"clips.csv", "summary.csv", "report.md", "summary.png"}
    per_clip = pd.read_csv(out / "clips.csv").fillna({"dominant": "", "label": ""})
    assert set(per_clip["smoothing"].str.split(" ").str[0]) == {"hmm", "hmm-online", "none", "ema"}
    for kind in ("hmm", "none"):
        options = VideoOptions(smoothing=kind, write_video=False, backend="torch")
        rows = main_track_rows(annotate_video(clips / "face.mp4", tmp_path / kind, options).out_dir)
        shown = rows["label"]
        confidence = [row[label] for label, (_, row) in zip(shown, rows.iterrows())]  # the shown label's probability
        row = per_clip[(per_clip["clip"] == "face.mp4") & (per_clip["smoothing"] == kind)].iloc[0]
        assert row["mean_confidence"] == pytest.approx(np.mean(confidence), abs=1e-4)
        assert row["frame_acc"] == pytest.approx(np.mean(shown == "happy"), abs=1e-4)
        assert row["switches_per_min"] * row["duration_s"] / 60 == pytest.approx(int((shown != shown.shift()).sum() - 1), abs=1e-3)
        assert row["dominant"] == shown.value_counts().idxmax()
    empty = per_clip[per_clip["clip"] == "empty.mp4"]
    assert (empty["face_share"] == 0).all() and (empty["dominant"] == "").all()
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["set"]) == {str(clips / "labels.csv"), str(clips / "empty.mp4")}
    labelled = summary[summary["set"] == str(clips / "labels.csv")]
    assert labelled["confidence_ece"].between(0, 1).all() and labelled["shown_confidence"].between(0, 1).all()
    assert summary[summary["set"] == str(clips / "empty.mp4")]["confidence_ece"].isna().all()  # no labels
    assert "ema (tuned, alpha" in (out / "report.md").read_text()
    assert main(args) == 2 and "--overwrite" in capsys.readouterr().err  # a report is never clobbered
    assert main([*args, "--overwrite"]) == 0  # from the trace cache this time


@pytest.mark.usefixtures("one_torch_thread")
def test_trace_clip_set_skips_and_names_an_unreadable_clip_only_when_asked(clips, tmp_path, monkeypatch):
    monkeypatch.setenv("FER_VIDEO_CACHE", str(tmp_path / "cache"))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    clip_set = ClipSet("mixed", [(clips / "face.mp4", "happy"), (broken, None), (clips / "empty.mp4", None)])
    recognizer, options = EmotionRecognizer(backend="torch", device="cpu"), VideoOptions()
    failed, advanced = [], []
    scored = trace_clip_set(clip_set, recognizer, options, "sha", failed=failed, advance=lambda: advanced.append(1))
    assert scored.name == "mixed" and len(scored.traces) == 2 and len(advanced) == 3
    assert scored.truths == [CLASSES.index("happy"), None]
    assert scored.traces[0].present.any() and not scored.traces[1].face.any()
    assert len(failed) == 1 and failed[0].startswith(f"{broken}: ")
    with pytest.raises(VideoError):
        trace_clip_set(clip_set, recognizer, options, "sha")


def test_a_cached_trace_belongs_to_the_backend_and_machine_that_made_it(clips):
    runtime = trace_runtime(EmotionRecognizer(backend="torch", device="cpu"))
    assert runtime == f"torch; {hardware_description()}; onnxruntime {onnxruntime.__version__}"
    options, clip = VideoOptions(), clips / "face.mp4"
    key = trace_key(clip, "sha", options, runtime)
    assert key == trace_key(clip, "sha", options, runtime)
    assert key != trace_key(clip, "sha", options, runtime.replace("torch", "onnx-int8", 1))
    assert key != trace_key(clip, "sha", options, "torch; another machine")


def test_eval_video_rejects_a_missing_labels_file(tmp_path, capsys):
    assert main(["eval-video", str(tmp_path / "labels.csv"), "--out", str(tmp_path / "r")]) == 2
    assert "not found" in capsys.readouterr().err
