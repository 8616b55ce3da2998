#!/usr/bin/env python3
"""Benchmark the video pipeline: real-time factor and time per stage.

Generates a 1280x720, 30 fps clip of scikit-image's astronaut photo panning and zooming (into a
temporary folder), runs ``annotate_video`` on it at ``--fps 10`` and at every frame (annotated
video included), and writes results/bench_video.json and results/bench_video.md.

    python scripts/bench_video.py                 # 20 s clip, GRU smoothing
    python scripts/bench_video.py --seconds 5 --smoothing ema

The real-time factor is seconds of video per second of processing (>= 1 keeps up with the
video). Stage times are summed per stage; encoding runs in its own thread alongside the
analysis, so they add up to more than the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
import torch

from fer_video.checkpoint import hardware_description
from fer_video.video import VideoOptions, annotate_video, load_models

STAGES = ("decode", "detect", "track", "classify", "smooth", "write", "video_decode", "draw", "encode", "plot")


def make_clip(path: Path, seconds: float, width: int = 1280, height: int = 720, fps: int = 30) -> Path:
    """The astronaut photo seen through a ``width`` x ``height`` window that pans and zooms."""
    from skimage import data

    canvas = cv2.resize(data.astronaut(), (1600, 1600), interpolation=cv2.INTER_CUBIC)
    count = round(seconds * fps)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "20"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(count):
            phase = 2 * np.pi * i / count
            zoom = 1.0 + 0.15 * (1 - np.cos(phase))
            crop_w, crop_h = width / zoom, height / zoom
            x0 = 160 + 140 * np.sin(phase) + (width - crop_w) / 2
            y0 = 40 + 30 * np.sin(2 * phase) + (height - crop_h) / 2
            crop = canvas[int(y0) : int(y0 + crop_h), int(x0) : int(x0 + crop_w)]
            frame = cv2.resize(crop, (width, height), interpolation=cv2.INTER_LINEAR)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def run_case(clip: Path, out: Path, options: VideoOptions, recognizer, gru) -> dict:
    cpu_start = time.process_time()
    report = annotate_video(clip, out, options, recognizer, gru)
    cpu = time.process_time() - cpu_start
    return {
        "fps": options.fps,
        "write_video": options.write_video,
        "detect_every": options.detect_every,
        "frames_analysed": report.frames_analysed,
        "tracks": report.tracks,
        "video_s": round(report.duration_s, 2),
        "processing_s": round(report.processing_s, 2),
        "realtime_factor": round(report.realtime_factor, 3),
        "cpu_s": round(cpu, 2),
        "cpu_s_per_video_s": round(cpu / report.duration_s, 3),
        "stage_times_s": {name: report.stage_times.get(name, 0.0) for name in STAGES},
    }


def markdown(result: dict) -> str:
    lines = [
        "# Video pipeline benchmark",
        "",
        (
            f"Made by `python scripts/bench_video.py {result['args']}` on {result['machine']} "
            f"(torch threads: {result['torch_threads']}, load average at start: {result['load_average']})."
        ),
        "",
        f"Clip: {result['clip']}. Smoothing: {result['smoothing']}, detector: {result['detector']}.",
        "Real-time factor = seconds of video / seconds of processing (>= 1.0 keeps up). Stage times are",
        "summed per stage; the encode thread (video_decode, draw, encode) runs alongside the analysis.",
        "CPU s per video s: process CPU time (all threads) per second of video; with N free cores,",
        "real time needs it below N (necessary, not sufficient; idle-waiting torch threads count too).",
        "",
        "| analysed fps | annotated video | frames analysed | processing (s) | real-time factor | CPU s per video s | "
        + " | ".join(STAGES)
        + " |",
        "|---" * (6 + len(STAGES)) + "|",
    ]
    for case in result["cases"]:
        rate = "every frame" if case["fps"] == 0 else f"{case['fps']:g}"
        times = " | ".join(f"{case['stage_times_s'][name]:.2f}" for name in STAGES)
        lines.append(
            f"| {rate} | {'yes' if case['write_video'] else 'no'} | {case['frames_analysed']} | "
            f"{case['processing_s']:.1f} | **{case['realtime_factor']:.2f}x** | {case['cpu_s_per_video_s']:.2f} | {times} |"
        )
    if result.get("note"):
        lines += ["", result["note"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the generated clip (default: 20)")
    parser.add_argument("--smoothing", default="gru", choices=("gru", "ema", "none"))
    parser.add_argument("--detector", default="mtcnn", choices=("mtcnn", "haar"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="results/bench_video", help="results path without suffix")
    parser.add_argument("--note", default="", help="a remark recorded with the results (e.g. machine load)")
    args = parser.parse_args()

    options = VideoOptions(smoothing=args.smoothing, detector=args.detector, device=args.device)
    recognizer, gru = load_models(options)
    cases = [
        VideoOptions(fps=10, smoothing=args.smoothing, detector=args.detector, device=args.device),
        VideoOptions(fps=0, smoothing=args.smoothing, detector=args.detector, device=args.device),
    ]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "astronaut_720p30.mp4", args.seconds)
        results = []
        for number, case in enumerate(cases):
            results.append(run_case(clip, Path(tmp) / f"out{number}", case, recognizer, gru))
            print(json.dumps(results[-1]))
    result = {
        "args": " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("out", "note")),
        "machine": hardware_description(),
        "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
        "load_average": round(load, 2) if load is not None else None,
        "clip": f"{args.seconds:g} s, 1280x720, 30 fps, astronaut panning and zooming (generated)",
        "smoothing": args.smoothing,
        "detector": args.detector,
        "measured_at": time.strftime("%Y-%m-%d %H:%M"),
        "cases": results,
        "note": args.note,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
