#!/usr/bin/env python3
"""Benchmark the video pipeline: real-time factor, time per stage, and agreement with detecting every frame.

Generates a 1280x720 (``--size``), 30 fps clip of scikit-image's astronaut photo panning and zooming,
with a stretch in the middle where the window shows no face (the face goes and comes back), into a
temporary folder; runs ``annotate_video`` on it at ``--fps 10`` and at every frame, with and
without the annotated video, with the default ``detect_every`` and with detection on every
analysed frame, and with the annotated video at the input's own size (``video_size`` 0: the same as
the default below 1080p); writes results/bench_video.json and results/bench_video.md.

    python scripts/bench_video.py                        # 20 s clip, GRU smoothing
    python scripts/bench_video.py --smoothing hmm --out results/bench_video_hmm   # the file default
    python scripts/bench_video.py --size 3840x2160 --seconds 10 --smoothing hmm --out results/bench_video_4k
    python scripts/bench_video.py --seconds 10 --baseline /tmp/fer-video-before

``--baseline DIR`` also runs the default cases with the fer_video package found in DIR (an
earlier checkout, e.g. ``git archive <commit> | tar -x -C DIR``), on the same clip, so the
figures before and after a change come from one run on one machine.

The real-time factor is seconds of video per second of processing (>= 1 keeps up with the
video). Stage times are summed per stage; encoding runs in its own thread alongside the
analysis, so they add up to more than the wall time. Agreement compares each run's
timeline.csv with the run that detects faces on every analysed frame at the same rate:
frames with the same number of faces, mean IoU of matched boxes, same smoothed label.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pandas as pd
import torch
from bench_memory import frame_size
from scipy.optimize import linear_sum_assignment

STAGES = (
    "decode", "detect", "refine", "track", "align", "classify", "smooth", "write",
    "video_decode", "draw", "encode", "plot",
)  # fmt: skip
#: (name, VideoOptions fields); cases without ``detect_every`` use the default (also run with --baseline).
CASES = (
    ("fps 10", {"fps": 10}),
    ("fps 10, no video", {"fps": 10, "write_video": False}),
    ("fps 10, detect every frame", {"fps": 10, "detect_every": 1}),
    ("every frame", {"fps": 0}),
    ("every frame, no video", {"fps": 0, "write_video": False}),
    ("every frame, detect every frame", {"fps": 0, "detect_every": 1}),
    ("fps 10, fast model", {"fps": 10, "model": "fast"}),
    ("fps 10, no video, fast model", {"fps": 10, "write_video": False, "model": "fast"}),
    ("fps 10, video at full size", {"fps": 10, "video_size": 0}),
)
#: Case settings the baseline checkout may not know; its run skips those cases.
NEW_SETTINGS = ("detect_every", "model", "video_size")
#: The window leaves the face for this part of the clip (fractions of its length).
NO_FACE = (0.45, 0.6)


def make_clip(path: Path, seconds: float, width: int = 1280, height: int = 720, fps: int = 30) -> Path:
    """The astronaut photo seen through a ``width`` x ``height`` window that pans and zooms, and
    shows only the space suit (no face) during :data:`NO_FACE`; the scene grows with the window,
    so every size shows the same picture (1280x720 at scale 1)."""
    from skimage import data

    scale = max(width / 1280, height / 720)
    side = round(1600 * scale)
    canvas = cv2.resize(data.astronaut(), (side, side), interpolation=cv2.INTER_CUBIC)
    count = round(seconds * fps)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "20"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(count):
            phase = 2 * np.pi * i / count
            zoom = 1.0 + 0.15 * (1 - np.cos(phase))
            crop_w, crop_h = width / zoom, height / zoom
            x0 = scale * (160 + 140 * np.sin(phase)) + (width - crop_w) / 2
            y0 = scale * (40 + 30 * np.sin(2 * phase)) + (height - crop_h) / 2
            if NO_FACE[0] <= i / count < NO_FACE[1]:
                y0 = side - crop_h
            crop = canvas[int(y0) : int(y0 + crop_h), int(x0) : int(x0 + crop_w)]
            frame = cv2.resize(crop, (width, height), interpolation=cv2.INTER_LINEAR)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def run_cases(clip: Path, work: Path, args: argparse.Namespace, baseline: bool) -> list[dict]:
    """Every case (only the default-``detect_every`` ones for a baseline), each with its timeline
    copied to ``work``."""
    from fer_video.video import VideoOptions, annotate_video, load_models

    common = {"smoothing": args.smoothing, "detector": args.detector, "device": args.device}
    code = "before" if baseline else "after"
    results, models = [], {}
    for number, (name, fields) in enumerate(CASES):
        if baseline and any(setting in fields for setting in NEW_SETTINGS):
            continue
        options = VideoOptions(**common, **fields)
        model = getattr(options, "model", "standard")
        if model not in models:  # loaded once per model, outside the timed runs
            models[model] = load_models(options)
        recognizer, gru = models[model]
        cpu_start = time.process_time()
        report = annotate_video(clip, work / f"{code}{number}", options, recognizer, gru)
        cpu = time.process_time() - cpu_start
        timeline = work / f"{code}{number}.csv"
        report.timeline_csv.replace(timeline)
        results.append(
            {
                "case": name,
                "code": code,
                "fps": options.fps,
                "write_video": options.write_video,
                "detect_every": options.detect_every,
                "backend": getattr(options, "backend", "torch"),
                "model": model,
                "frames_analysed": report.frames_analysed,
                "tracks": report.tracks,
                "video_s": round(report.duration_s, 2),
                "processing_s": round(report.processing_s, 2),
                "realtime_factor": round(report.realtime_factor, 3),
                "cpu_s": round(cpu, 2),
                "cpu_s_per_video_s": round(cpu / report.duration_s, 3),
                "stage_times_s": {stage: report.stage_times.get(stage, 0.0) for stage in STAGES},
                "timeline": str(timeline),
            }
        )
        print(json.dumps(results[-1]), flush=True)
    return results


def agreement(timeline: Path, reference: Path) -> dict:
    """How far a run's faces agree with the reference run's, frame by frame."""
    from fer_video.video.tracker import iou_matrix

    ours, theirs = pd.read_csv(timeline), pd.read_csv(reference)
    frames = sorted(set(theirs["frame"]))
    ours_by, theirs_by = dict(tuple(ours.groupby("frame"))), dict(tuple(theirs.groupby("frame")))
    empty = theirs.iloc[:0]
    same_count, ious, same_label = 0, [], []
    for frame in frames:
        a, b = ours_by.get(frame, empty), theirs_by.get(frame, empty)
        same_count += len(a) == len(b)
        if not len(a) or not len(b):
            continue
        overlap = iou_matrix(a[["x1", "y1", "x2", "y2"]].to_numpy(), b[["x1", "y1", "x2", "y2"]].to_numpy())
        for row, col in zip(*linear_sum_assignment(-overlap)):
            if overlap[row, col] > 0.3:
                ious.append(overlap[row, col])
                same_label.append(a["label"].iloc[row] == b["label"].iloc[col])
    return {
        "same_face_count": round(same_count / max(len(frames), 1), 3),
        "box_iou": round(float(np.mean(ious)), 3) if ious else None,
        "same_label": round(float(np.mean(same_label)), 3) if same_label else None,
    }


def markdown(result: dict) -> str:
    lines = [
        "# Video pipeline benchmark",
        "",
        (
            f"Made by `python scripts/bench_video.py {result['args']}` on {result['measured_at']}, commit "
            f"{result['commit']}, on {result['machine']} "
            f"(torch threads: {result['torch_threads']}, load average at start: {result['load_average']}, "
            f"at the end: {result['load_average_end']})."
        ),
        "",
        f"Clip: {result['clip']}. Smoothing: {result['smoothing']}, detector: {result['detector']}.",
        "Real-time factor = seconds of video / seconds of processing (>= 1.0 keeps up). Stage times are",
        "summed per stage; the encode thread (video_decode, draw, encode) runs alongside the analysis.",
        "CPU s per video s: process CPU time (all threads) per second of video. Agreement: against the",
        "`after` run that detects on every analysed frame at the same rate (share of frames with the same",
        "number of faces, mean IoU of matched boxes, share of matched faces with the same smoothed label).",
        "",
        "| code | case | model | CNN backend | detect every | frames analysed | tracks | processing (s) | real-time factor "
        "| CPU s per video s | same face count | box IoU | same label | " + " | ".join(STAGES) + " |",
        "|---" * (13 + len(STAGES)) + "|",
    ]
    for case in result["cases"]:
        times = " | ".join(f"{case['stage_times_s'][name]:.2f}" for name in STAGES)
        agree = case.get("agreement") or {}
        agree_cells = " | ".join(
            "" if agree.get(k) is None else f"{agree[k]:.3f}" for k in ("same_face_count", "box_iou", "same_label")
        )
        lines.append(
            f"| {case['code']} | {case['case']} | {case.get('model', 'standard')} | {case['backend']} | "
            f"{case['detect_every']} | {case['frames_analysed']} | {case['tracks']} | "
            f"{case['processing_s']:.1f} | **{case['realtime_factor']:.2f}x** | {case['cpu_s_per_video_s']:.2f} | "
            f"{agree_cells} | {times} |"
        )
    if result.get("note"):
        lines += ["", result["note"]]
    return "\n".join(lines) + "\n"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the generated clip (default: 20)")
    parser.add_argument("--size", type=frame_size, default=(1280, 720), metavar="WIDTHxHEIGHT",
                        help="frame size of the generated clip (default: 1280x720)")  # fmt: skip
    parser.add_argument(
        "--smoothing", default="gru", help="any kind of fer-video's --smoothing the measured package knows (default: gru)"
    )
    parser.add_argument("--detector", default="mtcnn", choices=("mtcnn", "haar"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="results/bench_video", help="results path without suffix")
    parser.add_argument("--baseline", type=Path, help="an earlier checkout whose fer_video is measured too")
    parser.add_argument("--note", default="", help="a remark recorded with the results (e.g. machine load)")
    parser.add_argument("--run-in", type=Path, help=argparse.SUPPRESS)  # internal: a baseline run's clip folder
    return parser.parse_args()


def run_baseline(args: argparse.Namespace, clip: Path, work: Path) -> list[dict]:
    """The default cases measured with the baseline checkout's package, in a child process."""
    command = [sys.executable, str(Path(__file__).resolve()), "--run-in", str(work)]
    command += ["--smoothing", args.smoothing, "--detector", args.detector, "--device", args.device]
    env = dict(os.environ, PYTHONPATH=str(args.baseline.resolve()))
    subprocess.run(command, check=True, env=env, cwd=args.baseline)
    return json.loads((work / "cases.json").read_text())


def main() -> None:
    args = parse_args()
    if args.run_in is not None:  # the baseline child: the clip is already there
        cases = run_cases(args.run_in / "clip.mp4", args.run_in, args, baseline=True)
        (args.run_in / "cases.json").write_text(json.dumps(cases))
        return
    from fer_video.checkpoint import hardware_description
    from fer_video.evaluate.outputs import write_report
    from fer_video.provenance import source_revision

    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "clip.mp4", args.seconds, *args.size)
        cases = run_baseline(args, clip, Path(tmp)) if args.baseline else []
        cases += run_cases(clip, Path(tmp), args, baseline=False)
        references = {c["fps"]: c["timeline"] for c in cases if c["code"] == "after" and c["detect_every"] == 1}
        for case in cases:
            case["agreement"] = agreement(Path(case["timeline"]), Path(references[case["fps"]]))
            del case["timeline"]
    result = {
        "args": " ".join(
            f"--{k.replace('_', '-')} {'x'.join(map(str, v)) if k == 'size' else v}"
            for k, v in vars(args).items()
            if k not in ("out", "note", "run_in") and v is not None
        ),
        "commit": source_revision(),
        "machine": hardware_description(),
        "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
        "load_average": round(load, 2),
        "load_average_end": round(os.getloadavg()[0], 2),
        "clip": (
            f"{args.seconds:g} s, {args.size[0]}x{args.size[1]}, 30 fps, astronaut panning and zooming, no face from "
            f"{NO_FACE[0] * args.seconds:g} s to {NO_FACE[1] * args.seconds:g} s (generated)"
        ),
        "smoothing": args.smoothing,
        "detector": args.detector,
        "measured_at": time.strftime("%Y-%m-%d %H:%M"),
        "cases": cases,
        "note": args.note,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_report(out.with_suffix(".json"), out.with_suffix(".md"), result, markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
