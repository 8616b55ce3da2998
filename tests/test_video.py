"""The video pipeline on real, small videos made here with PyAV from scikit-image's astronaut
photo: tracking over a stretch without the face, outputs, rotation, variable frame rates,
bad inputs and the resumable batch."""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from fer_video.backends import onnxruntime_available
from fer_video.backends.gru import OnnxGruSmoother, OnnxGruStep
from fer_video.cli import main
from fer_video.constants import CLASSES
from fer_video.pretrained import default_gru_path
from fer_video.recognizer import EmotionRecognizer
from fer_video.temporal import TemporalGRU, make_smoother
from fer_video.video import (
    LiveAnalyzer,
    VideoError,
    VideoOptions,
    VideoSource,
    annotate_batch,
    annotate_video,
    load_models,
)
from fer_video.video import decode
from fer_video.video.decode import frame_to_rgb, sample_indices
from fer_video.video.encode import AnnotatedVideoWriter
from fer_video.video.pipeline import max_gap_frames, track_birth_hits
from fer_video.video.tracker import iou_matrix
from test_pretrained import write_tiny_model

SIZE = (320, 240)  # width, height
FPS = 10
CLIP_FRAMES = 35
GAP = range(15, 20)  # frames 1.5-2.0 s show a gray screen: no face


def astronaut_frames(photo: np.ndarray, count: int, gap: Sequence[int] = (), size: tuple[int, int] = SIZE) -> list:
    """The photo seen through a window that pans right/down and zooms in; gray frames in ``gap``."""
    width, height = size
    frames = []
    for i in range(count):
        if i in gap:
            frames.append(np.full((height, width, 3), 128, np.uint8))
            continue
        progress = i / max(count - 1, 1)
        zoom = 1.0 + 0.3 * progress
        crop_w, crop_h = 400 / zoom, 300 / zoom
        x0, y0 = 10 + 80 * progress, 20 * progress
        crop = photo[int(y0) : int(y0 + crop_h), int(x0) : int(x0 + crop_w)]
        frames.append(cv2.resize(crop, size, interpolation=cv2.INTER_AREA))
    return frames


def write_video(
    path: Path,
    frames: Sequence[np.ndarray],
    fps: int = FPS,
    rotation: int = 0,
    audio: bool = False,
    pts_ms: Sequence[int] | None = None,
    options: dict | None = None,
) -> Path:
    """An H.264 MP4 of RGB ``frames``; ``rotation`` sets the display matrix (as phones do);
    ``audio`` adds a 440 Hz AAC track as long as the video; ``pts_ms`` gives each frame's time."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w", options=options or {}) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if pts_ms is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            stream.set_display_rotation(rotation)
        sound = container.add_stream("aac", rate=16000) if audio else None
        for i, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            if pts_ms is not None:
                frame.pts, frame.time_base = pts_ms[i], Fraction(1, 1000)
            container.mux(stream.encode(frame))
        if sound is not None:
            t = np.arange(int(16000 * len(frames) / fps)) / 16000
            samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            chunk = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts = 16000, 0
            container.mux(sound.encode(chunk))
            container.mux(sound.encode(None))
        container.mux(stream.encode(None))
    return path


def decode_all(path: Path) -> tuple[list[np.ndarray], list[float], set[str]]:
    """Frames, frame times and stream types of a video file."""
    with av.open(str(path)) as container:
        kinds = {stream.type for stream in container.streams}
        decoded = [(f.to_ndarray(format="rgb24"), float(f.time)) for f in container.decode(video=0)]
    return [f for f, _ in decoded], [t for _, t in decoded], kinds


@pytest.fixture(scope="module")
def recognizer() -> EmotionRecognizer:
    return EmotionRecognizer(device="cpu")


@pytest.fixture(scope="module")
def gru(recognizer) -> TemporalGRU:
    """The real GRU module with seeded untrained weights: the pipeline's GRU path, independent of
    whether ``models/emotion_gru.pt`` has been trained yet."""
    torch.manual_seed(0)
    return TemporalGRU(embed_dim=recognizer.classifier.embedding_dim).eval()


@pytest.fixture(scope="module")
def clip(astronaut, tmp_path_factory) -> Path:
    frames = astronaut_frames(astronaut, CLIP_FRAMES, GAP)
    return write_video(tmp_path_factory.mktemp("clip") / "astronaut.mp4", frames, audio=True)


@pytest.fixture(scope="module")
def analysed(clip, recognizer, gru, tmp_path_factory):
    """The pipeline run once on the clip, every frame analysed, GRU smoothing, with video, the
    default detection schedule."""
    out = tmp_path_factory.mktemp("out") / "astronaut"
    fractions: list[float] = []
    report = annotate_video(clip, out, VideoOptions(fps=0, smoothing="gru"), recognizer, gru, fractions.append)
    return report, pd.read_csv(report.timeline_csv), fractions


def test_outputs_are_all_written_and_marked_complete(analysed):
    report, _, _ = analysed
    names = sorted(p.name for p in report.out_dir.iterdir())
    assert names == ["annotated.mp4", "summary.csv", "summary.json", "timeline.csv", "timeline.png"]
    assert json.loads(report.summary_json.read_text())["complete"] is True
    assert not [p for p in report.out_dir.parent.iterdir() if p.name.startswith(".")]  # no staging left


def test_one_track_with_rows_only_where_the_face_is_visible(analysed):
    report, table, _ = analysed
    assert report.tracks == 1 and set(table["track_id"]) == {1}
    frames = set(table["frame"])
    assert not frames & set(GAP)
    face_frames = set(range(CLIP_FRAMES)) - set(GAP)
    assert len(frames) >= len(face_frames) - 2  # a new face is confirmed on its second detection
    assert table["frame"].is_unique and table["frame"].is_monotonic_increasing


def test_timestamps_follow_the_frame_rate(analysed):
    _, table, _ = analysed
    np.testing.assert_allclose(table["time_s"], table["frame"] / FPS, atol=1e-3)


def test_boxes_scores_and_probabilities_are_consistent(analysed):
    _, table, _ = analysed
    assert ((table["x1"] >= 0) & (table["x2"] <= SIZE[0]) & (table["x1"] < table["x2"])).all()
    assert ((table["y1"] >= 0) & (table["y2"] <= SIZE[1]) & (table["y1"] < table["y2"])).all()
    assert (table["det_score"] >= 0.9).all()
    smoothed, raw = table[list(CLASSES)].to_numpy(), table[[f"raw_{c}" for c in CLASSES]].to_numpy()
    np.testing.assert_allclose(smoothed.sum(axis=1), 1, atol=2e-3)
    np.testing.assert_allclose(raw.sum(axis=1), 1, atol=2e-3)
    assert list(table["label"]) == [CLASSES[i] for i in smoothed.argmax(axis=1)]
    assert list(table["raw_label"]) == [CLASSES[i] for i in raw.argmax(axis=1)]
    assert not np.allclose(smoothed, raw)  # the GRU did something


def test_annotated_video_has_every_frame_the_audio_and_the_boxes(analysed, clip):
    report, table, _ = analysed
    frames, times, kinds = decode_all(report.annotated_video)
    originals, original_times, _ = decode_all(clip)
    assert len(frames) == CLIP_FRAMES and frames[0].shape == (SIZE[1], SIZE[0], 3)
    np.testing.assert_allclose(times, original_times, atol=1e-3)
    assert kinds == {"video", "audio"}
    changed = [np.abs(a.astype(int) - b).mean() for a, b in zip(frames, originals)]
    drawn, gray = [changed[i] for i in table["frame"]], [changed[i] for i in GAP]
    assert min(drawn) > 2 * max(gray)  # boxes drawn on analysed face frames, nothing on the gray ones


def test_summary_describes_the_track(analysed):
    report, table, fractions = analysed
    summary = json.loads(report.summary_json.read_text())
    assert summary["faces_found"] and summary["frames_analysed"] == CLIP_FRAMES == report.frames_analysed
    (track,) = summary["tracks"]
    assert track["track_id"] == 1 and track["frames"] == len(table)
    assert track["first_s"] == pytest.approx(table["time_s"].min(), abs=1e-3)
    assert track["last_s"] == pytest.approx(table["time_s"].max(), abs=1e-3)
    assert track["dominant"] in CLASSES and sum(track["share"].values()) == pytest.approx(1, abs=1e-3)
    assert len(pd.read_csv(report.summary_csv)) == 1
    assert report.duration_s == pytest.approx(CLIP_FRAMES / FPS, abs=0.01)
    assert {"decode", "detect", "track", "classify", "smooth", "encode"} <= set(report.stage_times)
    assert fractions[-1] == 1.0 and fractions == sorted(fractions)


def test_detect_every_k_rechecks_faces_in_between_and_max_duration_cuts(clip, recognizer, tmp_path):
    options = VideoOptions(fps=0, smoothing="ema", write_video=False, detect_every=3, max_duration_s=2.5)
    report = annotate_video(clip, tmp_path / "out", options, recognizer)
    table = pd.read_csv(report.timeline_csv)
    assert report.tracks == 1 and report.annotated_video is None
    assert table["time_s"].max() < 2.5 and report.frames_analysed == 25
    assert not set(table["frame"]) & set(GAP)
    between = table[table["frame"] % 3 != 0]  # frames without a scheduled detection
    assert len(between) >= 8 and (between["det_score"] >= 0.9).all()  # re-checked by MTCNN's last stage
    assert report.stage_times["refine"] > 0


def test_rechecking_between_detections_agrees_with_detecting_every_frame(analysed, clip, recognizer, tmp_path):
    report, table, _ = analysed  # the default detect_every
    assert VideoOptions().detect_every > 1
    every = annotate_video(
        clip, tmp_path / "out", VideoOptions(fps=0, smoothing="none", detect_every=1, write_video=False), recognizer
    )
    reference = pd.read_csv(every.timeline_csv)
    common = table.merge(reference, on="frame", suffixes=("", "_ref"))
    assert every.tracks == report.tracks == 1 and len(common) >= len(reference) - 2
    boxes, boxes_ref = (
        common[["x1", "y1", "x2", "y2"]].to_numpy(),
        common[["x1_ref", "y1_ref", "x2_ref", "y2_ref"]].to_numpy(),
    )
    overlap = np.diag(iou_matrix(boxes, boxes_ref))
    assert overlap.min() > 0.7 and overlap.mean() > 0.85
    assert (common["raw_label"] == common["raw_label_ref"]).mean() >= 0.8


def test_a_detector_without_recheck_tracks_by_velocity_in_between(clip, tmp_path):
    haar = EmotionRecognizer(detector="haar", device="cpu")
    options = VideoOptions(fps=0, smoothing="ema", write_video=False, detect_every=3, max_duration_s=1.5)
    table = pd.read_csv(annotate_video(clip, tmp_path / "out", options, haar).timeline_csv)
    estimated = table[table["det_score"].isna()]
    assert len(estimated) >= 5 and set(table.loc[table["det_score"].notna(), "frame"] % 3) == {0}


def test_a_video_without_faces(astronaut, recognizer, tmp_path):
    rng = np.random.default_rng(0)
    frames = [np.full((SIZE[1], SIZE[0], 3), 90, np.uint8) + rng.integers(0, 30, (SIZE[1], SIZE[0], 3), np.uint8)]
    video = write_video(tmp_path / "empty_room.mp4", frames * 10)
    report = annotate_video(video, tmp_path / "out", VideoOptions(fps=5, smoothing="none"), recognizer)
    summary = json.loads(report.summary_json.read_text())
    assert report.tracks == 0 and not summary["faces_found"] and summary["message"] == "no faces were found"
    assert pd.read_csv(report.timeline_csv).empty and pd.read_csv(report.summary_csv).empty
    assert report.timeline_png.stat().st_size > 0
    assert len(decode_all(report.annotated_video)[0]) == 10


@pytest.mark.parametrize("smoothing", ["hmm", "none"])
def test_a_one_frame_video_shows_its_face(astronaut, recognizer, tmp_path, smoothing):
    """Too short for two sightings: the face in its only frame is reported all the same."""
    video = write_video(tmp_path / "still.mp4", astronaut_frames(astronaut, 1))
    report = annotate_video(video, tmp_path / "out", VideoOptions(smoothing=smoothing), recognizer)
    assert report.frames_analysed == 1 and report.tracks == 1
    assert len(pd.read_csv(report.timeline_csv)) == 1


def test_phone_video_with_display_rotation_is_analysed_upright(astronaut, recognizer, tmp_path):
    upright = astronaut_frames(astronaut, 8, size=(240, 320))  # portrait
    stored = [np.ascontiguousarray(np.rot90(f, k=1)) for f in upright]  # sideways, as a phone stores it
    video = write_video(tmp_path / "phone.mp4", stored, rotation=-90)
    source = VideoSource(video)
    assert (source.info.width, source.info.height, source.info.rotation) == (240, 320, 270)
    assert np.abs(source.read(np.array([3]))[0].astype(int) - upright[3]).mean() < 8
    report = annotate_video(video, tmp_path / "out", VideoOptions(fps=0, smoothing="ema"), recognizer)
    assert report.tracks == 1  # MTCNN finds no sideways face: the frames were turned upright
    frames, _, _ = decode_all(report.annotated_video)
    assert len(frames) == 8 and frames[0].shape == (320, 240, 3)


def test_annotated_video_is_scaled_down_to_video_size_with_the_boxes_in_place(astronaut, recognizer, tmp_path):
    upright = astronaut_frames(astronaut, 6, size=(360, 480))  # portrait, stored sideways as a phone does
    video = write_video(tmp_path / "phone.mp4", [np.ascontiguousarray(np.rot90(f, k=1)) for f in upright], rotation=-90)
    reports = {size: annotate_video(video, tmp_path / str(size), VideoOptions(fps=0, video_size=size), recognizer)
               for size in (0, 180)}  # fmt: skip
    full, small = (decode_all(report.annotated_video)[0] for report in reports.values())
    assert full[0].shape == (480, 360, 3) and small[0].shape == (240, 180, 3) and len(small) == len(full) == 6
    for big, little in zip(full, small):  # the same picture at half the size (labels keep a legible size)
        assert np.abs(little - cv2.resize(big, (180, 240), interpolation=cv2.INTER_AREA).astype(int)).mean() < 10

    def on_left_edge(picture: np.ndarray, scene: np.ndarray, box: np.ndarray) -> float:
        """Share of the rows along the box's left edge where something is drawn on the scene."""
        x1, y1, _, y2 = np.round(box).astype(int)
        strip = slice(max(x1 - 1, 0), x1 + 2)
        drawn = np.abs(picture[y1 + 3 : y2 - 3, strip].astype(int) - scene[y1 + 3 : y2 - 3, strip]).max(axis=(1, 2))
        return float((drawn > 40).mean())

    rows = pd.read_csv(reports[180].timeline_csv)
    assert len(rows) >= 4
    for _, row in rows.iterrows():
        box = row[["x1", "y1", "x2", "y2"]].to_numpy(float)
        scene = cv2.resize(upright[int(row["frame"])], (180, 240), interpolation=cv2.INTER_AREA)
        picture = small[int(row["frame"])]
        assert on_left_edge(picture, scene, box / 2) > 0.7 > 0.3 > on_left_edge(picture, scene, box)  # at half scale
        assert on_left_edge(full[int(row["frame"])], upright[int(row["frame"])], box) > 0.7


def test_frames_above_the_analysis_size_are_analysed_smaller_with_boxes_in_input_pixels(
    clip, recognizer, tmp_path, monkeypatch
):
    options = VideoOptions(fps=0, smoothing="none", write_video=False)
    full = pd.read_csv(annotate_video(clip, tmp_path / "full", options, recognizer).timeline_csv)
    monkeypatch.setattr(decode, "ANALYSIS_SIZE", 160)  # the 320x240 clip is analysed at 214x160
    source = VideoSource(clip)
    assert source.frame_size == (214, 160) and source.scale == pytest.approx(214 / 320)
    assert source.read(np.array([0, 3])).shape == (2, 160, 214, 3)
    small = pd.read_csv(annotate_video(clip, tmp_path / "small", options, recognizer).timeline_csv)
    assert len(small) >= 0.9 * len(full) > 0
    both = full.merge(small, on="frame", suffixes=("", "_small"))
    columns = ["x1", "y1", "x2", "y2"]
    overlap = iou_matrix(both[columns].to_numpy(), both[[f"{c}_small" for c in columns]].to_numpy()).diagonal()
    assert np.median(overlap) > 0.9  # the same faces, in the input's pixels
    assert (both["raw_label"] == both["raw_label_small"]).mean() > 0.8


@pytest.mark.parametrize("pixel_format", ["yuv420p", "yuv444p", "rgb24"])
def test_frames_are_scaled_to_rgb_alike_from_any_pixel_format(astronaut, pixel_format):
    picture = astronaut_frames(astronaut, 1, size=(320, 240))[0]
    frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format=pixel_format)
    expected = cv2.resize(frame.to_ndarray(format="rgb24"), (160, 120), interpolation=cv2.INTER_AREA).astype(int)
    assert np.abs(frame_to_rgb(frame, (160, 120)) - expected).mean() < 2
    assert frame_to_rgb(frame, (320, 240)).shape == (240, 320, 3)


def test_variable_frame_rate_keeps_real_timestamps(tmp_path):
    pts = [0, 40, 80, 120, 160, 300, 450, 600, 633, 666, 700, 900]
    frames = [np.full((SIZE[1], SIZE[0], 3), 20 * i, np.uint8) for i in range(len(pts))]
    video = write_video(tmp_path / "vfr.mp4", frames, fps=25, pts_ms=pts)
    source = VideoSource(video)
    np.testing.assert_allclose(source.timestamps, np.array(pts) / 1000, atol=2e-3)
    assert list(source.analysis_indices(5)) == [0, 5, 6, 7, 11]  # the first frame in each 0.2 s slot
    writer = AnnotatedVideoWriter(video, tmp_path / "annotated.mp4", 0, source.info.frame_count).start()
    writer.finish()
    _, times, _ = decode_all(tmp_path / "annotated.mp4")
    np.testing.assert_allclose(times, np.array(pts) / 1000, atol=2e-3)


def test_sample_indices_every_frame_or_by_time():
    stamps = np.arange(30) / 30
    assert list(sample_indices(stamps, 0)) == list(range(30))
    assert list(sample_indices(stamps, 10)) == list(range(0, 30, 3))
    assert list(sample_indices(stamps, 60)) == list(range(30))


@pytest.fixture
def bad_inputs(clip, tmp_path) -> dict[str, Path]:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, np.uint8).tobytes())
    empty = tmp_path / "empty.mp4"
    empty.touch()
    faststart = write_video(tmp_path / "full.mp4", [np.full((240, 320, 3), 9 * i, np.uint8) for i in range(20)],
                            options={"movflags": "+faststart"})  # fmt: skip
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(faststart.read_bytes()[: faststart.stat().st_size // 2])
    audio = tmp_path / "voice.m4a"
    with av.open(str(audio), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        chunk = av.AudioFrame.from_ndarray(np.zeros((1, 16000), np.float32), format="fltp", layout="mono")
        chunk.sample_rate, chunk.pts = 16000, 0
        container.mux(stream.encode(chunk))
        container.mux(stream.encode(None))
    return {"garbage": garbage, "empty": empty, "truncated": truncated, "audio": audio, "missing": tmp_path / "no.mp4"}


@pytest.mark.parametrize(
    "name, message",
    [
        ("garbage", "not a video or unreadable"),
        ("empty", r"empty file \(0 bytes\)"),
        ("truncated", "truncated or corrupt"),
        ("audio", r"not a video: .* \(audio only\)"),
        ("missing", "file not found"),
    ],
)
def test_bad_videos_give_one_clear_message_and_no_output(bad_inputs, recognizer, tmp_path, name, message):
    out = tmp_path / "out" / name
    with pytest.raises(VideoError, match=message) as caught:
        annotate_video(bad_inputs[name], out, VideoOptions(smoothing="none"), recognizer)
    assert "\n" not in str(caught.value) and str(bad_inputs[name]) in str(caught.value)
    assert not out.exists() and not list((tmp_path / "out").glob(".*"))  # nothing half-written


def test_cli_reports_bad_input_without_traceback(bad_inputs, tmp_path, capsys):
    assert main(["video", str(bad_inputs["audio"]), "--out", str(tmp_path / "o"), "--smoothing", "none"]) == 2
    error = capsys.readouterr().err
    assert "fer-video video: error: not a video" in error and "Traceback" not in error


def test_output_folder_rules(clip, recognizer, tmp_path):
    options = VideoOptions(fps=2, smoothing="none", write_video=False)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(VideoError, match="cannot create output folder"):
        annotate_video(clip, blocker / "out", options, recognizer)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(VideoError, match="not empty; pass --overwrite"):
        annotate_video(clip, out, options, recognizer)
    report = annotate_video(
        clip, out, VideoOptions(fps=2, smoothing="none", write_video=False, overwrite=True), recognizer
    )
    assert report.tracks == 1 and (out / "notes.txt").read_text() == "mine"  # only our files are replaced


def test_batch_goes_past_a_broken_file_and_resumes(clip, tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "good.mp4").write_bytes(clip.read_bytes())
    (videos / "broken.mp4").write_bytes(b"\x00" * 5000)
    (videos / "notes.txt").write_text("not a video: ignored in a folder")
    args = ["batch", str(videos), "--out", str(tmp_path / "out"), "--fps", "2", "--smoothing", "ema", "--no-video"]
    assert main(args) == 1
    printed = capsys.readouterr()
    assert "broken.mp4" in printed.err and "1 done, 0 skipped, 1 failed" in printed.out
    marker = tmp_path / "out" / "good" / "summary.json"
    assert json.loads(marker.read_text())["complete"] and not (tmp_path / "out" / "broken").exists()
    finished_at = marker.stat().st_mtime_ns
    assert main(args) == 1
    assert "0 done, 1 skipped, 1 failed" in capsys.readouterr().out
    assert marker.stat().st_mtime_ns == finished_at


def test_annotate_batch_reports_patterns_that_match_nothing(tmp_path):
    report = annotate_batch([str(tmp_path / "*.mp4")], tmp_path / "out", VideoOptions(smoothing="none"))
    assert not report.ok and not report.successes
    assert "no files match" in next(iter(report.failures.values()))


def test_live_analyzer_keeps_ids_and_resets_on_a_new_stream(astronaut, recognizer):
    live = LiveAnalyzer(recognizer, smoothing="ema")
    frames = astronaut_frames(astronaut, 6)
    seen = [live.process(frame, i / FPS) for i, frame in enumerate(frames)]
    assert seen[0] == []  # a new face is confirmed on its second detection
    assert all([s.track_id for s in states] == [1] for states in seen[1:])
    assert seen[-1][0].label in CLASSES and 0 < seen[-1][0].confidence <= 1
    live.process(frames[0], 100.0)
    assert [s.track_id for s in live.process(frames[1], 0.0)] == []  # time went back: new stream
    assert [s.track_id for s in live.process(frames[2], 0.1)] == [1]


def test_max_gap_frames_ignores_a_rate_a_hair_above_a_whole_number():
    rates = (0.5, 10.0, 1 / 0.09999999999, 1 / 0.10000000001, 10.5, 30.0)
    assert [max_gap_frames(rate) for rate in rates] == [1, 10, 10, 10, 11, 30]


def test_track_birth_takes_the_same_time_at_any_rate():
    assert [track_birth_hits(rate) for rate in (2.0, 10.0, 30.0)] == [(2, 2), (2, 5), (3, 15)]
    assert track_birth_hits(30.0, frames_to_analyse=4) == (3, 4)
    assert track_birth_hits(30.0, frames_to_analyse=1) == (1, 1)  # a one-frame video shows its face


def test_a_new_face_in_a_30_fps_stream_starts_its_track_after_as_long_as_in_a_file(astronaut, recognizer):
    """0.1 s of sure sightings: the 3rd frame at 30 fps (the 2nd at 10 fps, as in the test above)."""
    live = LiveAnalyzer(recognizer, smoothing="ema", hysteresis=False)
    frames = astronaut_frames(astronaut, 36, gap=range(30))
    ids = [[s.track_id for s in live.process(frame, i / 30)] for i, frame in enumerate(frames)]
    assert ids[30] == ids[31] == [] and ids[32:] == [[1]] * 4


def test_live_tracks_end_after_the_same_gap_as_files_when_only_detections_update_them(astronaut):
    """Without a tracker re-check (Haar) and a full detection every 3rd frame, a face missing for
    more than MAX_GAP_S (1 s) gets a new id, and one missing for less keeps its id, as in files."""
    haar = EmotionRecognizer(detector="haar", device="cpu")
    live = LiveAnalyzer(haar, smoothing="ema", detect_every=3, hysteresis=False)
    frames = astronaut_frames(astronaut, 60, gap=[*range(9, 15), *range(27, 45)])
    ids = [[s.track_id for s in live.process(frame, i / FPS)] for i, frame in enumerate(frames)]
    assert ids[8] == [1] and ids[24] == [1]  # 0.6 s unseen: the same face
    assert ids[-1] == [2]  # 1.8 s unseen: a new track


def test_options_are_validated():
    for bad in (VideoOptions(fps=-1), VideoOptions(smoothing="median"), VideoOptions(detect_every=0),
                VideoOptions(detector="yolo"), VideoOptions(max_duration_s=0), VideoOptions(model="huge"),
                VideoOptions(video_size=-1), VideoOptions(video_size=100)):  # fmt: skip
        with pytest.raises(ValueError):
            bad.validate()


@pytest.mark.skipif(not onnxruntime_available(), reason="ONNX Runtime is not installed")
@pytest.mark.filterwarnings("ignore:emotion_gru.pt was trained on the embeddings of another CNN")
def test_the_gru_runs_on_onnx_runtime_when_the_cnn_does(clip, tmp_path, monkeypatch):
    if not default_gru_path().is_file():
        pytest.skip(f"shipped GRU missing: {default_gru_path()}")
    monkeypatch.setenv("FER_VIDEO_CACHE", str(tmp_path / "cache"))  # exports made here, on first use
    tables, grus = {}, {}
    for backend in ("torch", "onnx"):
        options = VideoOptions(fps=0, smoothing="gru", write_video=False, device="cpu", backend=backend,
                               max_duration_s=2.5)  # fmt: skip
        recognizer, grus[backend] = load_models(options)
        assert recognizer.classifier.backend_name == backend
        report = annotate_video(clip, tmp_path / backend, options, recognizer, grus[backend])
        tables[backend] = pd.read_csv(report.timeline_csv)
    assert isinstance(grus["torch"], TemporalGRU) and isinstance(grus["onnx"], OnnxGruStep)
    assert isinstance(make_smoother("gru", grus["onnx"]), OnnxGruSmoother)
    torch_table, onnx_table = tables["torch"], tables["onnx"]
    assert len(torch_table) >= 15 and list(torch_table["frame"]) == list(onnx_table["frame"])
    assert torch_table["frame"].max() > max(GAP)  # the track's state was carried over the gap
    difference = np.abs(torch_table[list(CLASSES)].to_numpy() - onnx_table[list(CLASSES)].to_numpy())
    assert difference.max() <= 1e-4 + 1e-9  # at most one unit of the CSV's fourth decimal


def test_video_command_runs_the_fast_model(clip, tmp_path, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    write_tiny_model(models, "fast")
    monkeypatch.setenv("FER_VIDEO_MODELS", str(models))
    out = tmp_path / "out"
    args = ["video", str(clip), "--out", str(out), "--model", "fast", "--fps", "5", "--no-video", "--device", "cpu",
            "--backend", "torch", "--smoothing", "gru"]  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the fast GRU is loaded with the fast CNN: no mismatch warning
        assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["options"]["model"] == "fast" and summary["options"]["smoothing"] == "gru"
    assert summary["faces_found"]
    assert main([*args[:3], str(tmp_path / "other"), "--model", "standard", *args[6:]]) == 2  # not in this folder


@pytest.mark.skipif("libsvtav1" not in av.codecs_available, reason="this PyAV build has no AV1 encoder")
def test_av1_video_is_read(tmp_path):
    frames = [np.full((SIZE[1], SIZE[0], 3), 20 * i, np.uint8) for i in range(10)]
    path = tmp_path / "av1.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libsvtav1", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        for pixels in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode(None))
    source = VideoSource(path)
    assert source.info.frame_count == 10
    np.testing.assert_allclose(source.timestamps, np.arange(10) / FPS, atol=1e-3)
    picked = source.analysis_indices(5)
    assert list(picked) == [0, 2, 4, 6, 8]
    read = np.concatenate([source.read(picked[:2]), source.read(picked[2:])])
    np.testing.assert_allclose(read.mean(axis=(1, 2, 3)), [20 * i for i in picked], atol=4)


def resident_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096 / 2**20


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux's /proc to read memory")
def test_reading_holds_no_frames_ahead_of_a_slow_consumer(tmp_path):
    """The decoder must not run ahead of the analysis: 20 s of frames decoded in the background
    would hold about 140 MB (what decord 0.6 did; memory then grew with the video's length)."""
    import time

    path = tmp_path / "long.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        noise = np.random.default_rng(0).integers(0, 255, (SIZE[1], SIZE[0], 3), dtype=np.uint8)
        for index in range(600):
            frame = av.VideoFrame.from_ndarray(np.roll(noise, index, axis=1), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with VideoSource(path) as source:
        picked = source.analysis_indices(10)
        source.read(picked[:4])
        before = resident_mb()
        time.sleep(2)  # a slow consumer: analysis takes longer than decoding
        grown = resident_mb() - before
        assert grown < 40, f"{grown:.0f} MB decoded ahead"
        assert len(source.read(picked[4:])) == len(picked) - 4
