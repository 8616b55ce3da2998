"""The web app over HTTP: a real server on a loopback port, called with ``gradio_client``.

Also the app's handlers without a server (the Live tab's session, the long-video notice), the
model loader (once per process, errors in one line), and the limits that protect the server:
upload size, video length, queue size, bad files (a one-line message, never a traceback).
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.request
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
from PIL import Image

pytest.importorskip("gradio")
pytest.importorskip("gradio_client")

from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from fer_video.app import AppModels, AppSettings, AppWorkspace, ModelLoader, build_app, launch_app
from fer_video.app.examples import pan_zoom_frames, write_clip, write_example_image
from fer_video.app.handlers import LiveSession, analyse_video
from fer_video.app.jobs import JobGate, ServerBusy
from fer_video.app.models import ModelLoadError, load_default_gru
from fer_video.app.tables import FACE_COLUMNS, LIVE_COLUMNS
from fer_video.cli import main as cli_main
from fer_video.constants import CLASSES
from fer_video.pretrained import default_cnn_path

#: The astronaut's face in skimage's 512x512 photo (x1, y1, x2, y2), checked by eye.
ASTRONAUT_FACE = (170, 50, 280, 180)
SETTINGS = AppSettings(max_upload_mb=2, max_video_seconds=3, concurrency=1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def overlap(box, reference) -> float:
    """Intersection over the reference box's area."""
    x1, y1 = max(box[0], reference[0]), max(box[1], reference[1])
    x2, y2 = min(box[2], reference[2]), min(box[3], reference[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    return inter / ((reference[2] - reference[0]) * (reference[3] - reference[1]))


@pytest.fixture(scope="module")
def recognizer():
    if not default_cnn_path().is_file():
        pytest.skip(f"shipped CNN weights missing: {default_cnn_path()}")
    from fer_video.recognizer import EmotionRecognizer

    return EmotionRecognizer(device="cpu")


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    """Real inputs: the astronaut photo, a 2 s clip panning over it, a 6 s clip (longer than
    the 3 s limit), a photo without a face, a text file and an oversized file."""
    folder = tmp_path_factory.mktemp("media")
    gray = np.full((240, 320, 3), 128, np.uint8)
    Image.fromarray(gray).save(folder / "wall.png")
    (folder / "notes.txt").write_text("not a picture\n")
    (folder / "big.png").write_bytes(np.random.default_rng(0).bytes(3 * 1024 * 1024))
    astronaut = np.asarray(Image.open(write_example_image(folder)))
    return {
        "astronaut": folder / "astronaut.png",
        "clip": write_clip(pan_zoom_frames(astronaut, 20, size=256), folder / "pan.mp4", fps=10),
        "long": write_clip(pan_zoom_frames(astronaut, 24, size=256), folder / "long.mp4", fps=4),
        "wall": folder / "wall.png",
        "text": folder / "notes.txt",
        "big": folder / "big.png",
    }


@pytest.fixture(scope="module")
def loads() -> list[int]:
    """How many times the served app's models were loaded (appended by its loader)."""
    return []


@pytest.fixture(scope="module")
def server(recognizer, loads, tmp_path_factory):
    """The app, served on a free loopback port before its models are loaded; yields its URL."""

    def load() -> AppModels:
        loads.append(1)
        return AppModels.around(recognizer)

    workspace = AppWorkspace.create(tmp_path_factory.mktemp("workspace"))
    demo = build_app(ModelLoader(load), settings=SETTINGS, workspace=workspace)
    port = free_port()
    launch_app(demo, SETTINGS, port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()
        workspace.remove()


@pytest.fixture(scope="module")
def client(server, tmp_path_factory):
    downloads = tmp_path_factory.mktemp("downloads")
    return Client(server, verbose=False, download_files=str(downloads), analytics_enabled=False)


def test_image_endpoint_labels_the_astronaut(client, media):
    annotated, label, chart, table = client.predict(handle_file(media["astronaut"]), api_name="/analyse_image")
    faces = pd.DataFrame(table["data"], columns=table["headers"])
    assert len(faces) == 1
    face = faces.iloc[0]
    assert face["label"] in CLASSES
    assert overlap([face[c] for c in ("x1", "y1", "x2", "y2")], ASTRONAUT_FACE) > 0.6
    assert sum(face[name] for name in CLASSES) == pytest.approx(1.0, abs=0.01)
    assert label["label"] == face["label"]
    assert {c["label"] for c in label["confidences"]} == set(CLASSES)
    assert np.asarray(Image.open(annotated)).shape == (512, 512, 3)
    assert chart is not None


def test_page_shows_named_columns_before_any_analysis(server):
    with urllib.request.urlopen(f"{server}config", timeout=30) as response:
        config = json.load(response)
    tables = {c["props"].get("elem_id"): c["props"] for c in config["components"] if c["type"] == "dataframe"}
    assert tables["image-table"]["value"]["headers"] == FACE_COLUMNS
    assert tables["live-table"]["value"]["headers"] == LIVE_COLUMNS


def test_image_without_a_face_returns_an_empty_table(client, media):
    annotated, label, _, table = client.predict(handle_file(media["wall"]), api_name="/analyse_image")
    assert table["headers"] == FACE_COLUMNS
    assert table["data"] == [] or not any(table["data"][0])
    assert not label
    assert np.asarray(Image.open(annotated)).shape == (240, 320, 3)


def test_video_endpoint_returns_a_valid_csv_and_video(client, media):
    video, timeline_png, summary, csv_path, mp4_path = client.predict(
        handle_file(media["clip"]), 5, "ema", api_name="/analyse_video"
    )
    timeline = pd.read_csv(csv_path)
    assert len(timeline) > 0
    assert set(timeline["label"]) <= set(CLASSES)
    assert len(summary["data"]) >= 1
    with av.open(mp4_path) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(frames) == 20 and frames[0].shape == (256, 256, 3)
    assert Path(video).stat().st_size == Path(mp4_path).stat().st_size
    assert Image.open(timeline_png).size[0] > 0


def test_long_video_is_cut_at_the_limit(client, media):
    *_, csv_path, mp4_path = client.predict(handle_file(media["long"]), 4, "none", api_name="/analyse_video")
    timeline = pd.read_csv(csv_path)
    assert timeline["time_s"].max() < SETTINGS.max_video_seconds
    with av.open(mp4_path) as container:
        duration = sum(1 for _ in container.decode(video=0)) / 4
    assert duration <= SETTINGS.max_video_seconds


def test_long_video_notice_comes_before_the_analysis(recognizer, media, tmp_path):
    heard: list[tuple[str, int]] = []
    progress: list[float] = []
    result = analyse_video(
        media["long"], tmp_path / "run", recognizer, None, fps=4, smoothing="none", max_seconds=3,
        progress=progress.append, notice=lambda message: heard.append((message, len(progress))),
    )  # fmt: skip
    assert heard == [("This video is 6 s long: only its first 3 s will be analysed (this server's limit).", 0)]
    assert result.truncated and result.report.duration_s == pytest.approx(3, abs=0.3)
    assert progress and progress[-1] == pytest.approx(1.0)


def test_models_load_once_for_every_request(client, media, loads):
    for _ in range(2):
        client.predict(handle_file(media["astronaut"]), api_name="/analyse_image")
    client.predict(handle_file(media["clip"]), 5, "ema", api_name="/analyse_video")
    assert loads == [1]


def test_unavailable_smoothing_gives_a_one_line_message(client, media):
    with pytest.raises(AppError) as error:
        client.predict(handle_file(media["clip"]), 5, "median-of-nothing", api_name="/analyse_video")
    assert "smoothing 'median-of-nothing' is not available here; choose one of:" in str(error.value)


def test_full_line_of_videos_refuses_the_next_with_a_message(recognizer, media, tmp_path):
    settings = AppSettings(max_video_seconds=3, concurrency=1, queue_size=1)
    workspace = AppWorkspace.create(tmp_path)
    demo = build_app(ModelLoader.of(AppModels.around(recognizer)), settings=settings, workspace=workspace)
    port = free_port()
    launch_app(demo, settings, port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=str(tmp_path))
        jobs = [client.submit(handle_file(media["clip"]), 5, "none", api_name="/analyse_video") for _ in range(4)]
        outcomes = []
        for job in jobs:
            try:
                outcomes.append(len(job.result(timeout=300)))
            except AppError as error:
                outcomes.append(str(error))
    finally:
        demo.close()
        workspace.remove()
    assert outcomes.count(5) == 2, outcomes  # one ran at once, one waited its turn
    refused = [o for o in outcomes if isinstance(o, str)]
    assert len(refused) == 2 and all(o.startswith("The server is busy (1 running, 1 waiting") for o in refused)


def test_job_gate_takes_turns_in_order_and_says_how_many_are_ahead():
    gate = JobGate(running=1, waiting=2)
    order, heard = [], {}
    first_in = threading.Event()
    release = threading.Event()

    def job(name: str) -> None:
        with gate.turn(lambda ahead: heard.setdefault(name, []).append(ahead)):
            order.append(name)
            if name == "a":
                first_in.set()
                release.wait(30)

    threads = [threading.Thread(target=job, args=("a",))]
    threads[0].start()
    assert first_in.wait(30)
    for name in ("b", "c"):
        threads.append(threading.Thread(target=job, args=(name,)))
        threads[-1].start()
        while name not in heard:
            threading.Event().wait(0.01)
    with pytest.raises(ServerBusy, match=r"^The server is busy \(1 running, 2 waiting: its limit\)"):
        with gate.turn():
            pass
    release.set()
    for thread in threads:
        thread.join(30)
    assert order == ["a", "b", "c"]
    assert heard["b"] == [1] and heard["c"][0] == 2 and "a" not in heard


@pytest.mark.parametrize(
    ("name", "api_name", "expected"),
    [("text", "/analyse_image", "not an image"), ("text", "/analyse_video", "not a video")],
)
def test_bad_upload_gives_a_one_line_message(client, media, name, api_name, expected):
    payload = handle_file(media[name])
    args = (payload,) if api_name == "/analyse_image" else (payload, 5, "ema")
    with pytest.raises(AppError) as error:
        client.predict(*args, api_name=api_name)
    message = str(error.value)
    assert expected in message and "Traceback" not in message and "\n" not in message
    assert "notes.txt" in message and "/" not in message  # the visitor's file name, not a server path


def test_upload_over_the_size_limit_is_refused_by_the_server(server, media):
    import httpx

    with media["big"].open("rb") as handle:
        response = httpx.post(f"{server}gradio_api/upload", files={"files": ("big.png", handle, "image/png")})
    assert response.status_code == 413
    assert "maximum allowed size" in response.text


def test_live_session_tracks_a_face_and_keeps_a_rolling_timeline(recognizer, media):
    frame = np.asarray(Image.open(media["astronaut"]).convert("RGB"))
    session = LiveSession.create(recognizer, "ema", gru=None, history_s=1.0)
    updates = [session.update(frame, now=100.0 + 0.4 * step) for step in range(6)]
    last = updates[-1]
    assert len(last.table) == 1 and last.table.iloc[0]["label"] in CLASSES
    assert set(last.main_face) == set(CLASSES)
    assert last.annotated.shape == frame.shape and not np.array_equal(last.annotated, frame)
    assert set(last.timeline["emotion"]) == set(CLASSES)
    times = last.timeline["time_s"]
    assert times.max() == pytest.approx(2.0) and times.min() >= 1.0  # only the last history_s seconds


def test_app_starts_without_a_usable_gru(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_VIDEO_MODELS", str(tmp_path))
    assert load_default_gru("cpu") is None  # missing file: smoothing falls back to the kinds needing no GRU
    (tmp_path / "emotion_gru.pt").write_bytes(b"not a checkpoint")
    assert load_default_gru("cpu") is None


def test_smoothing_offers_the_library_defaults_and_only_the_kinds_that_run(recognizer):
    from fer_video.app.models import live_smoothing, video_smoothing
    from fer_video.temporal import DEFAULT_LIVE_SMOOTHING, ONLINE_SMOOTHING_KINDS, SMOOTHING_KINDS
    from fer_video.video import VideoOptions

    loaded = AppModels.around(recognizer)  # with the shipped GRU
    assert loaded.gru is not None and loaded.video.kinds == SMOOTHING_KINDS
    assert loaded.video.default == VideoOptions().smoothing
    assert loaded.video.pick(None) == loaded.video.pick("") == VideoOptions().smoothing
    assert loaded.live.kinds == ONLINE_SMOOTHING_KINDS and loaded.live.default == DEFAULT_LIVE_SMOOTHING
    for choice in (video_smoothing(None), live_smoothing(None)):
        assert choice.kinds and "gru" not in choice.kinds and choice.default in choice.kinds


def test_model_loader_loads_once_across_threads():
    calls = []
    barrier = threading.Barrier(4)

    def load():
        calls.append(1)
        return "models"

    loader = ModelLoader(load)

    def ask(results):
        barrier.wait()
        results.append(loader.get())

    results: list = []
    threads = [threading.Thread(target=ask, args=(results,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [1] and results == ["models"] * 4 and loader.ready


def test_model_loader_reports_a_failure_in_one_line_every_time():
    def load():
        raise FileNotFoundError("no weights at\n /models/emotion_cnn.pt")

    loader = ModelLoader(load)
    loader.start()
    for _ in range(2):
        with pytest.raises(ModelLoadError, match=r"^the models could not be loaded: no weights at /models/\S+\.pt$"):
            loader.get(timeout=30)


@pytest.mark.parametrize(
    "limits", [{"max_upload_mb": 0}, {"max_video_seconds": -1}, {"concurrency": 0}, {"stream_every": 10}]
)
def test_settings_refuse_limits_that_protect_nothing(limits):
    with pytest.raises(ValueError):
        AppSettings(**limits)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "0"], "--port must be between"),
        (["--max-video-seconds", "0"], "must be positive"),
        (["--weights", "missing/cnn.pt"], "--weights: file not found: missing/cnn.pt"),
    ],
)
def test_cli_rejects_bad_options_with_one_line(args, message, capsys):
    assert cli_main(["app", *args]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


def test_cli_exits_with_one_line_when_the_models_cannot_load(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FER_VIDEO_MODELS", str(tmp_path))  # no weights there
    assert cli_main(["app", "--port", str(free_port()), "--device", "cpu"]) == 2
    captured = capsys.readouterr()
    assert "serving on http://127.0.0.1:" in captured.out
    assert "error: the models could not be loaded:" in captured.err and captured.err.count("\n") == 1
