#!/usr/bin/env python3
"""Benchmark the web app's Video tab end to end: a 2-minute 720p clip analysed through a real browser.

Generates a 1280x720 clip of scikit-image's astronaut photo moving across the frame (written
with PyAV), starts ``fer-video app`` with its default limits on a free loopback port, and drives
headless Chromium (tests/browser/video_bench.mjs, Playwright as in the browser test) to upload
the clip, press "Analyse video" and wait for the result. Records the app's start-up (to the first
HTTP 200, and until its models are loaded), the wall time from the click to the result, the app
process's CPU time for it, and screenshots with the progress bar and with the result
(results/screenshots/bench_video_progress.png, bench_video_result.png); writes
results/bench_app_video.md and .json.

    python scripts/bench_app_video.py                 # 120 s clip at 30 fps
    python scripts/bench_app_video.py --seconds 30    # a shorter run

Needs Chromium, Node.js and playwright-core (scripts/install_browser_deps.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from fer_video.app.examples import astronaut, write_clip
from fer_video.app.settings import describe_duration
from fer_video.evaluate.outputs import write_report
from fer_video.provenance import source_revision

ROOT = Path(__file__).resolve().parents[1]
BROWSER_DIR = ROOT / "tests" / "browser"


def moving_face_frames(seconds: float, fps: int, width: int = 1280, height: int = 720) -> Iterator[np.ndarray]:
    """The astronaut photo (scaled to the frame's height) gliding left and right across a grey
    gradient, bobbing a little: one face that moves all the time."""
    photo = Image.fromarray(astronaut()).resize((height, height), Image.BICUBIC)
    shade = np.linspace(40, 160, width, dtype=np.float32)
    backdrop = np.repeat(np.tile(shade, (height, 1))[..., None], 3, axis=2).astype(np.uint8)
    count = round(seconds * fps)
    for index in range(count):
        phase = 2 * np.pi * index / (fps * 20)  # a sweep across the frame every 20 s
        left = round((width - height) * (0.5 + 0.5 * np.sin(phase)))
        top = round(12 * np.sin(3 * phase))
        frame = backdrop.copy()
        frame[max(top, 0) : height + min(top, 0), left : left + height] = np.asarray(photo)[
            max(-top, 0) : height - max(top, 0)
        ]
        yield frame


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (all its threads; Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_app(port: int, log: Path) -> tuple[subprocess.Popen, dict]:
    """``fer-video app`` with its defaults; returns it once its models are loaded, with the
    seconds to its first HTTP 200 and to the models being ready."""
    url = f"http://127.0.0.1:{port}/"
    started = time.monotonic()
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "fer_video.cli", "app", "--port", str(port)],
            cwd=ROOT, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    first_200 = None
    while time.monotonic() - started < 600:
        if process.poll() is not None:
            sys.exit(f"bench_app_video: the app exited with status {process.returncode}:\n{log.read_text()[-2000:]}")
        if first_200 is None:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        first_200 = time.monotonic() - started
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
        if first_200 is not None and "models loaded" in log.read_text():
            return process, {"first_200_s": round(first_200, 2), "models_ready_s": round(time.monotonic() - started, 2)}
        time.sleep(0.1)
    process.kill()
    sys.exit(f"bench_app_video: the app was not ready within 600 s:\n{log.read_text()[-2000:]}")


def markdown(result: dict) -> str:
    run, clip = result["run"], result["clip"]
    per_min = run["seconds"] / clip["seconds"] * 60
    return "\n".join(
        [
            f"# Web app: {describe_duration(clip['seconds'])} of 720p video through the Video tab",
            "",
            f"Made by `python scripts/bench_app_video.py {result['args']}` on {result['machine']}; "
            f"{result['measured_at']}, commit {result['commit']}. "
            f"Load average (1 min) at the start: {result['load_average']}, at the end: {result['load_average_end']} "
            f"({os.cpu_count()} CPUs; other work on the machine slows every figure below).",
            "",
            f"Clip: {clip['seconds']:g} s, {clip['width']}x{clip['height']}, {clip['fps']} fps, H.264, "
            f"{clip['mb']:.1f} MB, the astronaut photo gliding across a grey gradient (generated). The app ran with its "
            f"defaults (`fer-video app`: standard model, {run['smoothing']} smoothing, 10 analysed frames per "
            "second, annotated MP4 written); headless Chromium uploaded the clip and pressed \"Analyse video\".",
            "",
            "| measure | value |",
            "|---|---:|",
            f"| app start to first HTTP 200 | {result['startup']['first_200_s']:.1f} s |",
            f"| app start to models loaded | {result['startup']['models_ready_s']:.1f} s |",
            f"| click to result (wall) | **{run['seconds']:.1f} s** |",
            f"| wall time per minute of video | {per_min:.0f} s |",
            f"| app CPU time for the analysis (all threads) | {run['cpu_s']:.1f} s |",
            f"| app CPU time per minute of video | {run['cpu_s'] / clip['seconds'] * 60:.0f} s |",
            f"| timeline rows / last time (s) | {run['csv_rows']} / {run['csv_last_time_s']:.1f} |",
            f"| progress figures shown by the page | {len(run['progress'])} "
            f"(up to {max(run['progress'], default=0):.0f} %) |",
            "",
            "Screenshots: [with the progress bar](screenshots/bench_video_progress.png), "
            "[with the result](screenshots/bench_video_result.png).",
            "",
        ]
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="length of the generated clip (default 120)")
    parser.add_argument("--fps", type=int, default=30, help="frame rate of the generated clip (default 30)")
    parser.add_argument("--out", default="results/bench_app_video", help="results path without suffix")
    parser.add_argument("--shots", default="results/screenshots", help="folder for the two screenshots")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir() or shutil.which("node") is None:
        sys.exit("bench_app_video: needs Node.js and playwright-core: run scripts/install_browser_deps.sh")
    from fer_video.checkpoint import hardware_description
    from fer_video.video import VideoOptions

    shots = Path(args.shots).resolve()
    shots.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        clip = write_clip(
            moving_face_frames(args.seconds, args.fps), Path(tmp) / "astronaut_720p.mp4", args.fps,
            options={"preset": "veryfast", "crf": "23"},
        )  # fmt: skip
        port = free_port()
        process, startup = start_app(port, Path(tmp) / "app.log")
        try:
            url = f"http://127.0.0.1:{port}/"
            cpu_before = process_cpu_s(process.pid)
            command = ["node", str(BROWSER_DIR / "video_bench.mjs"), "--url", url, "--video", str(clip)]
            command += ["--progress-shot", str(shots / "bench_video_progress.png")]
            command += ["--result-shot", str(shots / "bench_video_result.png"), "--chromium", args.chromium]
            browser = subprocess.run(command, cwd=BROWSER_DIR, capture_output=True, text=True, check=False)
            cpu = process_cpu_s(process.pid) - cpu_before
        finally:
            process.terminate()
            process.wait(timeout=60)
        if browser.returncode != 0:
            sys.exit(f"bench_app_video: the browser run failed: {browser.stderr.strip()[-2000:]}")
        run = json.loads(browser.stdout.strip().splitlines()[-1])
        clip_mb = clip.stat().st_size / 2**20
    run["cpu_s"] = round(cpu, 1)
    result = {
        "args": f"--seconds {args.seconds:g} --fps {args.fps}",
        "machine": hardware_description(),
        "commit": source_revision(),
        "measured_at": time.strftime("%Y-%m-%d %H:%M"),
        "load_average": round(load, 2),
        "load_average_end": round(os.getloadavg()[0], 2),
        "clip": {"seconds": args.seconds, "fps": args.fps, "width": 1280, "height": 720, "mb": round(clip_mb, 2)},
        "startup": startup,
        "run": {**run, "smoothing": run.get("smoothing") or VideoOptions().smoothing},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_report(out.with_suffix(".json"), out.with_suffix(".md"), result, markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
