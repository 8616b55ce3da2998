"""``fer-video live``: a stream served by the real ffmpeg over HTTP, a file played in real time or
not, clean stops on SIGINT and SIGTERM, and one-line errors for sources that are not there."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from fer_video.cli import main
from fer_video.constants import CLASSES
from fer_video.video import decode
from fer_video.video.encode import FrameVideoWriter
from fer_video.video.live_runner import LIVE_FILES, LiveOptions, run_live
from fer_video.video.stream import FrameStream, parse_source
from fer_video.video.timeline import timeline_columns
from fer_video.video.tracker import iou_matrix

FFMPEG = shutil.which("ffmpeg")
needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="the ffmpeg program is not installed (apt-get install ffmpeg)")
#: Clip geometry: the astronaut's face pans left and right inside this frame.
WIDTH, HEIGHT, RATE = 480, 360, 15
#: Where the face is in every frame of the clip (x1, y1, x2, y2), generously.
FACE_REGION = (40, 0, 420, 300)
#: Generous limits for one run on a busy 2-core machine (model loading included).
ROWS_WAIT_S, EXIT_WAIT_S = 240, 90

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_clip(path: Path, seconds: float) -> Path:
    """``seconds`` of the astronaut photo panning (H.264, 480x360, 15 fps)."""
    from skimage import data

    canvas = cv2.resize(data.astronaut(), (600, 600), interpolation=cv2.INTER_AREA)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=RATE, options={"preset": "ultrafast", "crf": "28", "g": "15"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for i in range(round(seconds * RATE)):
            x = round(60 + 50 * np.sin(2 * np.pi * i / (6 * RATE)))
            frame = np.ascontiguousarray(canvas[10 : 10 + HEIGHT, x : x + WIDTH])
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("live") / "clip.mp4", 4)


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory) -> Path:
    """Long enough to outlast model loading on a slow machine; runs on it are stopped by a signal."""
    return make_clip(tmp_path_factory.mktemp("live") / "long.mp4", 60)


@pytest.fixture(scope="module")
def recognizer():
    from fer_video.recognizer import EmotionRecognizer

    return EmotionRecognizer(device="cpu")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(port: int, timeout_s: float = 10.0) -> None:
    """Until something listens on 127.0.0.1:``port`` (read from /proc/net/tcp: connecting would use
    up ffmpeg's one ``-listen 1`` connection)."""
    wanted = f"0100007F:{port:04X}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            table = Path("/proc/net/tcp").read_text().splitlines()[1:]
        except OSError:
            time.sleep(1.0)  # no /proc: give ffmpeg a moment
            return
        if any(line.split()[1] == wanted and line.split()[3] == "0A" for line in table):
            return
        time.sleep(0.05)
    raise AssertionError(f"ffmpeg is not listening on port {port}")


def live_command(source: str, out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # one thread: on a shared 2-core CPU, more only wait
    command = [sys.executable, "-m", "fer_video.cli", "live", source, "--out", str(out), *extra]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def data_rows(timeline: Path) -> list[list[str]]:
    if not timeline.exists():
        return []
    with timeline.open(newline="") as handle:
        return list(csv.reader(handle))[1:]


def stop_after_rows(process: subprocess.Popen, timeline: Path, rows: int, signum: int) -> tuple[str, str]:
    """Wait for ``rows`` face rows, send ``signum``, and return the command's output once it ends."""
    deadline = time.monotonic() + ROWS_WAIT_S
    while len(data_rows(timeline)) < rows and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert process.poll() is None, f"ended early: {process.communicate()}"
    assert len(data_rows(timeline)) >= rows, "no face rows in time"
    process.send_signal(signum)
    out, err = process.communicate(timeout=EXIT_WAIT_S)
    assert process.returncode == 0, err
    return out, err


def check_outputs(out: Path, annotated: bool) -> dict:
    """Complete CSV rows with the face where it is, summary.json written, nothing else left."""
    with (out / "timeline.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == timeline_columns(CLASSES)
    assert len(rows) > 1 and all(len(row) == len(rows[0]) for row in rows)
    for row in rows[1:]:
        x1, y1, x2, y2 = map(float, row[3:7])
        assert FACE_REGION[0] <= x1 < x2 <= FACE_REGION[2] and FACE_REGION[1] <= y1 < y2 <= FACE_REGION[3]
        assert row[15] in CLASSES and abs(sum(map(float, row[8:15])) - 1) < 0.01
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is True and summary["faces_found"] is True
    assert summary["frames_analysed"] >= len({row[1] for row in rows[1:]})
    assert sorted(p.name for p in out.iterdir()) == sorted(n for n in LIVE_FILES if annotated or n != "annotated.mp4")
    if annotated:
        with av.open(str(out / "annotated.mp4")) as container:
            frames = list(container.decode(video=0))
        assert len(frames) == summary["frames_analysed"]
        assert (frames[0].width, frames[0].height) == (WIDTH, HEIGHT)
    return summary


@needs_ffmpeg
def test_http_stream_from_ffmpeg_is_analysed_and_stops_cleanly_on_sigint(long_clip, tmp_path):
    port, out = free_port(), tmp_path / "out"
    server = subprocess.Popen(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-re", "-i", str(long_clip), "-c", "copy",
         "-f", "mpegts", "-listen", "1", f"http://127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_listening(port)
        process = live_command(f"http://127.0.0.1:{port}", out, "--annotate", "--fps", "5")
        _, err = stop_after_rows(process, out / "timeline.csv", 3, signal.SIGINT)
    finally:
        server.kill()
        server.wait()
    assert "SIGINT: stopping" in err and "Traceback" not in err
    summary = check_outputs(out, annotated=True)
    assert summary["stopped"] == "interrupted" and summary["source_kind"] == "url"
    assert summary["realtime"] is False


def test_file_plays_in_real_time_and_stops_cleanly_on_sigterm(long_clip, tmp_path):
    out = tmp_path / "out"
    process = live_command(str(long_clip), out, "--fps", "5")
    _, err = stop_after_rows(process, out / "timeline.csv", 3, signal.SIGTERM)
    assert "SIGTERM: stopping" in err and "Traceback" not in err
    summary = check_outputs(out, annotated=False)
    assert summary["stopped"] == "interrupted" and summary["realtime"] is True
    # Paced by its timestamps: no more of the file was analysed than the time the run took.
    assert summary["duration_s"] <= summary["wall_s"] + 0.5
    assert summary["frames_read"] < 60 * RATE


def test_file_without_realtime_hands_over_every_sampled_frame(clip, tmp_path, recognizer):
    options = LiveOptions(fps=5, realtime=False, max_frames=6, smoothing="ema", annotate=True)
    report = run_live(str(clip), tmp_path / "out", options, recognizer=recognizer)
    assert report.stopped == "max frames" and report.frames_analysed == 6
    assert report.frames_dropped == 0 and report.tracks == 1
    frames = [int(row[1]) for row in data_rows(report.timeline_csv)]
    assert frames == sorted(set(frames)) and all(b - a == RATE // 5 for a, b in zip(frames, frames[1:]))
    summary = check_outputs(report.out_dir, annotated=True)
    assert summary["frames_dropped"] == 0 and summary["options"]["smoothing"] == "ema"


def test_frames_above_the_analysis_size_are_analysed_smaller_with_boxes_in_input_pixels(
    clip, tmp_path, recognizer, monkeypatch
):
    options = LiveOptions(fps=5, realtime=False, max_frames=6, smoothing="none")
    full = run_live(str(clip), tmp_path / "full", options, recognizer=recognizer)
    monkeypatch.setattr(decode, "ANALYSIS_SIZE", 180)  # the 480x360 clip is analysed at 240x180
    seen = []
    small = run_live(str(clip), tmp_path / "small", options, on_frame=lambda status: seen.append(status.frame),
                     recognizer=recognizer)  # fmt: skip
    assert seen[0].image.shape == (180, 240, 3) and seen[0].scale == 0.5
    boxes = [{int(row[1]): [float(v) for v in row[3:7]] for row in data_rows(report.timeline_csv)} for report in (full, small)]
    assert len(boxes[1]) >= 5 and boxes[0].keys() == boxes[1].keys()
    frames = sorted(boxes[0])
    overlap = iou_matrix(np.array([boxes[0][f] for f in frames]), np.array([boxes[1][f] for f in frames])).diagonal()
    assert np.median(overlap) > 0.9  # the same faces, in the source's pixels


def test_duration_limit_and_end_of_stream(clip, tmp_path, recognizer):
    options = LiveOptions(fps=5, realtime=False, duration_s=1.0, smoothing="none")
    report = run_live(str(clip), tmp_path / "short", options, recognizer=recognizer)
    assert report.stopped == "duration"
    assert all(float(row[0]) < 1.0 for row in data_rows(report.timeline_csv))
    report = run_live(str(clip), tmp_path / "whole", LiveOptions(fps=2, realtime=False, smoothing="none"),
                      recognizer=recognizer)  # fmt: skip
    assert report.stopped == "end of stream" and report.frames_analysed == 8  # 4 s at 2 fps


def test_slow_analysis_drops_frames_instead_of_falling_behind(clip):
    with FrameStream(parse_source(str(clip)), fps=0, realtime=True) as stream:
        taken = []
        for frame in stream.frames():
            taken.append(frame.index)
            time.sleep(0.3)  # an analysis slower than the clip's 15 fps
        stats = stream.stats
    assert taken == sorted(taken) and len(taken) < stats.read
    assert stats.dropped > 0 and stats.read == 4 * RATE
    assert len(taken) + stats.dropped == stats.read  # every frame read was analysed or dropped


def test_sources_that_are_not_there_are_one_line_errors(tmp_path, capsys):
    out = tmp_path / "out"
    url = f"http://127.0.0.1:{free_port()}/"
    assert main(["live", url, "--out", str(out), "--timeout", "5"]) == 2
    assert f"cannot open {url} (Connection refused)" in capsys.readouterr().err
    assert main(["live", str(tmp_path / "missing.mp4"), "--out", str(out)]) == 2
    assert "file not found" in capsys.readouterr().err
    if not Path("/dev/video9").exists():
        assert main(["live", "9", "--out", str(out)]) == 2
        assert "no camera 9: /dev/video9 does not exist" in capsys.readouterr().err
    assert main(["live", url, "--out", str(out), "--no-realtime"]) == 2
    assert "cannot be read slower than real time" in capsys.readouterr().err
    assert not out.exists()


def test_an_earlier_run_is_kept_unless_overwrite(clip, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "timeline.csv").write_text("earlier results\n")
    (out / "notes.txt").write_text("mine\n")
    args = ["live", str(clip), "--out", str(out), "--no-realtime", "--max-frames", "2", "--smoothing", "ema"]
    assert main(args) == 2
    assert "is not empty; pass --overwrite" in capsys.readouterr().err
    assert (out / "timeline.csv").read_text() == "earlier results\n"
    assert main([*args, "--overwrite"]) == 0
    assert (out / "timeline.csv").read_text().startswith("time_s,frame,track_id")
    assert (out / "notes.txt").read_text() == "mine\n" and (out / "summary.json").exists()


def test_frame_writer_keeps_times_and_size(tmp_path):
    target = tmp_path / "frames.mp4"
    writer = FrameVideoWriter(target, rate=10)
    pictures = [np.full((121, 161, 3), v, np.uint8) for v in (0, 60, 120, 180)] + [np.zeros((60, 80, 3), np.uint8)]
    for picture, time_s in zip(pictures, (0.0, 0.1, 0.1, 0.5, 1.0)):  # a repeated time is moved on
        writer.write(picture, time_s)
    assert writer.partial.exists() and not target.exists()  # moved into place only when finished
    assert writer.close() == target and not writer.partial.exists()
    with av.open(str(target)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 5 and {(f.width, f.height) for f in frames} == {(160, 120)}
    times = [f.time for f in frames]
    assert times == sorted(set(times)) and times[0] == pytest.approx(0.0) and times[-1] == pytest.approx(1.0)


def test_stop_event_ends_a_run_with_complete_outputs(long_clip, tmp_path, recognizer):
    stop = threading.Event()
    seen = []

    def on_frame(status) -> None:
        seen.append(status.frames_analysed)
        if status.frames_analysed == 3:
            stop.set()

    options = LiveOptions(fps=5, realtime=False, smoothing="ema", annotate=True)
    report = run_live(str(long_clip), tmp_path / "out", options, stop=stop, on_frame=on_frame, recognizer=recognizer)
    assert report.stopped == "interrupted" and report.frames_analysed == 3 == seen[-1]
    check_outputs(report.out_dir, annotated=True)


def test_live_smoothing_uses_only_frames_seen_so_far():
    from fer_video.temporal import ONLINE_SMOOTHING_KINDS, SMOOTHING_KINDS

    for kind in set(SMOOTHING_KINDS) - set(ONLINE_SMOOTHING_KINDS):
        with pytest.raises(ValueError, match="needs frames still to come"):
            LiveOptions(smoothing=kind).validate()
    LiveOptions().validate()
    assert LiveOptions().smoothing in ONLINE_SMOOTHING_KINDS
