#!/usr/bin/env python3
"""Peak memory of ``fer-video video`` against the length of the video: does it stay flat?

Generates 640x360, 30 fps clips of scikit-image's astronaut swaying, of each ``--lengths`` (seconds),
into a temporary folder, runs ``fer-video video CLIP --out DIR`` on each in a child process (the
defaults: hmm smoothing, 10 analysed fps, annotated MP4 written) and records the child's peak
resident memory (``ru_maxrss``) and wall time; writes results/bench_memory.json and .md.

    python scripts/bench_memory.py --overwrite
    python scripts/bench_memory.py --baseline /tmp/fer-video-before --overwrite

``--baseline DIR`` also runs the checkout in DIR (``python -m fer_video.cli`` with DIR on the path)
on the same clips.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
from skimage import data as skimage_data

from bench_startup import machine
from fer_video.evaluate.outputs import check_overwrite_or_exit, write_report
from fer_video.provenance import source_revision

ROOT = Path(__file__).resolve().parents[1]


def frame_size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` as two even positive integers."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"give the size as WIDTHxHEIGHT, e.g. 3840x2160, not {text!r}") from None
    if width < 2 or height < 2 or width % 2 or height % 2:
        raise argparse.ArgumentTypeError(f"width and height must be even and at least 2, not {text!r}")
    return width, height


def make_clip(path: Path, seconds: float, size: tuple[int, int] = (640, 360), fps: int = 30) -> Path:
    """The astronaut, 360 px high, swaying left and right on a black background."""
    width, height = size
    face = cv2.resize(skimage_data.astronaut(), (height, height))
    canvas = np.zeros((height, width, 3), np.uint8)
    left = (width - height) // 2
    canvas[:, left : left + height] = face
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(round(seconds * fps)):
            shift = int(40 * np.sin(index / fps))
            frame = av.VideoFrame.from_ndarray(np.roll(canvas, shift, axis=1), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def run_video(clip: Path, out: Path, checkout: Path | None) -> dict:
    """Peak RSS (MB) and wall time of one ``fer-video video`` run in a fresh child process."""
    code = "import resource, sys; from fer_video.cli import main; code = main(sys.argv[1:]); "
    code += "print('MAXRSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(code)"
    env = dict(os.environ, PYTHONPATH=str(checkout)) if checkout else dict(os.environ)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, "video", str(clip), "--out", str(out)],
        capture_output=True, text=True, env=env, cwd=checkout or ROOT, check=True,
    )  # fmt: skip
    wall = time.perf_counter() - started
    peak_kb = int(next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("MAXRSS")))
    return {"peak_mb": round(peak_kb / 1024, 1), "wall_s": round(wall, 1)}


def markdown(result: dict) -> str:
    lines = [
        "# Peak memory of `fer-video video` against the video's length",
        "",
        f"{result['date']}, {result['revision']}, on {result['machine']['hardware']}; 1-minute load average "
        f"{result['load_start']:.2f} at the start, {result['load_end']:.2f} at the end.",
        "",
        f"Clips: {result['clip']}. Each run: `fer-video video CLIP --out DIR` (defaults: hmm smoothing, "
        "10 analysed fps, annotated MP4) in a fresh process; peak resident memory (`ru_maxrss`) of that process.",
        "",
        "| version | " + " | ".join(f"{s:g} s: peak MB, wall s" for s in result["lengths"]) + " |",
        "|---|" + "---|" * len(result["lengths"]),
    ]
    for version, runs in result["runs"].items():
        lines.append(f"| {version} | " + " | ".join(f"{r['peak_mb']:.0f}, {r['wall_s']:.0f}" for r in runs) + " |")
    lines += ["", f"Rerun: `{result['command']}`.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=float, nargs="+", default=[10, 40, 120], help="clip lengths (s)")
    parser.add_argument("--baseline", type=Path, help="an earlier checkout measured on the same clips")
    parser.add_argument("--out", default="results", help="folder for bench_memory.json and .md")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()
    out = Path(args.out)
    check_overwrite_or_exit([out / "bench_memory.json", out / "bench_memory.md"], args.overwrite)
    load_start = os.getloadavg()[0]
    versions = {"this": None, **({f"baseline ({args.baseline})": args.baseline.resolve()} if args.baseline else {})}
    runs: dict[str, list[dict]] = {name: [] for name in versions}
    with tempfile.TemporaryDirectory() as scratch:
        for seconds in args.lengths:
            clip = make_clip(Path(scratch) / f"clip_{seconds:g}s.mp4", seconds)
            for name, checkout in versions.items():
                runs[name].append(run_video(clip, Path(scratch) / f"out_{name[:4]}_{seconds:g}", checkout))
                print(name, seconds, runs[name][-1], flush=True)
    result = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "revision": source_revision(),
        "machine": machine(),
        "load_start": load_start,
        "load_end": os.getloadavg()[0],
        "clip": "640x360, 30 fps, H.264, the astronaut swaying (generated)",
        "lengths": args.lengths,
        "runs": runs,
        "command": "python scripts/bench_memory.py" + (" --baseline DIR" if args.baseline else "") + " --overwrite",
    }
    out.mkdir(parents=True, exist_ok=True)
    write_report(out / "bench_memory.json", out / "bench_memory.md", result, markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
