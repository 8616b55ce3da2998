"""The web app in a real browser: ``fer-video app`` served on a loopback port, driven by headless
Chromium through Playwright (tests/browser/app_e2e.mjs) across the Image, Video and Live tabs:
a 13 s clip (longer than the app once accepted) analysed with its default limits and smoothing,
its progress shown, an upload over the size limit refused with a message, the Faces table's
column names shown before any analysis.

Needs Chromium (Debian ``chromium``), Node.js and ``npm ci`` in tests/browser (all installed by
scripts/install_browser_deps.sh); skipped with the reason when any is missing. Screenshots of each
tab go to a temporary folder, or to ``$FER_VIDEO_SCREENSHOTS`` when set
(``FER_VIDEO_SCREENSHOTS=results/screenshots pytest tests/test_app_browser.py`` refreshes the README's).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from fer_video.app.examples import pan_zoom_frames, write_clip
from fer_video.app.tables import FACE_COLUMNS
from fer_video.constants import CLASSES
from fer_video.pretrained import default_cnn_path

ROOT = Path(__file__).resolve().parents[1]
BROWSER_DIR = ROOT / "tests" / "browser"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
NODE = shutil.which("node")
STARTUP_TIMEOUT_S = 180
BROWSER_TIMEOUT_S = 420
#: The clip's length: over the 10 s the app once refused, short enough to keep the test quick.
CLIP_SECONDS = 13
#: The upload cap the app runs with here (the photo and the clip are far below it).
UPLOAD_MB = 4


def missing_requirement() -> str | None:
    if CHROMIUM is None or not Path(CHROMIUM).is_file():
        return "Chromium not found (apt-get install chromium, or set CHROMIUM_PATH)"
    if NODE is None:
        return "Node.js not found"
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        return "playwright-core not installed (run `npm ci` in tests/browser)"
    if not default_cnn_path().is_file():
        return f"shipped CNN weights missing: {default_cnn_path()}"
    return None


pytestmark = pytest.mark.skipif(missing_requirement() is not None, reason=str(missing_requirement()))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_y4m(frame: np.ndarray, path: Path, fps: int = 10, count: int = 10) -> Path:
    """A still RGB frame as a YUV4MPEG2 (4:2:0) clip: what Chromium's fake camera plays in a loop."""
    height, width = frame.shape[:2]
    planes = cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes()
    with path.open("wb") as handle:
        handle.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(count):
            handle.write(b"FRAME\n" + planes)
    return path


def wait_until_serving(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"fer-video app exited with status {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(1)
    pytest.fail(f"fer-video app did not answer on {url} within {STARTUP_TIMEOUT_S} s:\n{log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """``fer-video app`` in a subprocess, exactly as a user starts it."""
    port = free_port()
    log = tmp_path_factory.mktemp("app") / "app.log"
    command = [sys.executable, "-m", "fer_video.cli", "app", "--port", str(port), "--max-upload-mb", str(UPLOAD_MB)]
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_serving(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_image_video_and_live_tabs_work_in_chromium(app_url, astronaut, tmp_path):
    from fer_video.video import VideoOptions

    screenshots = Path(os.environ.get("FER_VIDEO_SCREENSHOTS") or tmp_path / "screenshots")
    screenshots.mkdir(parents=True, exist_ok=True)
    photo = tmp_path / "astronaut.png"
    Image.fromarray(astronaut).save(photo)
    clip = write_clip(pan_zoom_frames(astronaut, CLIP_SECONDS * 10, size=256), tmp_path / "astronaut_pan.mp4", fps=10)
    big = tmp_path / "big.mp4"
    big.write_bytes(np.random.default_rng(0).bytes((UPLOAD_MB + 1) * 1024 * 1024))
    camera = write_y4m(astronaut, tmp_path / "astronaut.y4m")
    for name in ("image.png", "video.png", "live.png"):
        (screenshots / name).unlink(missing_ok=True)

    command = [NODE, str(BROWSER_DIR / "app_e2e.mjs"), "--url", app_url, "--image", str(photo), "--big", str(big)]
    command += ["--video", str(clip), "--camera", str(camera), "--shots", str(screenshots), "--chromium", CHROMIUM]
    command += ["--timeout", str(BROWSER_TIMEOUT_S * 1000 // 3)]
    run = subprocess.run(
        command, check=False, cwd=BROWSER_DIR, capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S
    )
    assert run.returncode == 0, run.stderr[-3000:]
    shown = json.loads(run.stdout.strip().splitlines()[-1])

    assert shown["empty_columns"] == FACE_COLUMNS
    assert shown["image"]["label"] in CLASSES
    assert shown["image"]["bars"] == len(CLASSES)
    assert shown["image"]["faces"] == 1

    video = shown["video"]
    assert "maximum allowed size" in video["refused"] and "big.mp4" in video["refused"]
    assert video["smoothing"] == VideoOptions().smoothing
    assert video["player"].endswith(".mp4") and video["csv"] == "timeline.csv"
    assert "label" in video["csv_header"].split(",") and video["csv_rows"] > 0
    assert video["csv_last_time_s"] > CLIP_SECONDS - 1  # analysed to the end, not cut at 10 s
    assert video["summary_rows"] >= 1
    assert video["progress"], "the progress bar never showed"

    live = shown["live"]
    assert live["label"] in CLASSES and live["faces"] == 1
    assert sorted(live["timeline"]) == sorted(CLASSES)  # one line per emotion in the rolling timeline
    for name in ("image.png", "video.png", "live.png"):
        assert Image.open(screenshots / name).size[0] >= 1000
