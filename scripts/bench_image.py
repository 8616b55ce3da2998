"""Benchmark image inference: classifier throughput on face crops, and photos per second end to
end (detect + align + classify) with the time split per stage.

Targets (2 CPU cores): >= 1,000 crops/s at batch 64; >= 10 photos/s at 640x480.
Writes results/bench_image.json and results/bench_image.md.

    python scripts/bench_image.py --overwrite
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
from skimage import data as skimage_data

from fer_video.backends import BACKENDS
from fer_video.checkpoint import hardware_description
from fer_video.evaluate.outputs import check_overwrite_or_exit, write_report
from fer_video.faces import align_faces
from fer_video.pretrained import DEFAULT_MODEL, SHIPPED_MODELS
from fer_video.provenance import source_revision
from fer_video.recognizer import EmotionRecognizer

TARGET_CROPS_PER_S = 1000.0  # batch 64
TARGET_PHOTOS_PER_S = 10.0  # 640x480, end to end
PHOTO_SIZES = ((640, 480), (1920, 1080))


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=list(SHIPPED_MODELS), default=DEFAULT_MODEL, help="shipped CNN to run")
    parser.add_argument("--weights", help="emotion CNN checkpoint (default: the --model's shipped CNN)")
    parser.add_argument("--device", default="cpu", help="cpu (the target) | cuda | auto")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--backend", choices=BACKENDS, default="auto", help="what runs the emotion CNN")
    parser.add_argument("--detector", default="mtcnn")
    parser.add_argument("--photo-batch", type=int, default=8, help="photos detected together")
    parser.add_argument("--seconds", type=float, default=3.0, help="time spent on each measurement")
    parser.add_argument("--out", default="results", help="folder for bench_image.json and bench_image.md")
    parser.add_argument("--overwrite", action="store_true")
    return parser


def repeat_for(seconds: float, step: Callable[[], object]) -> tuple[int, float, float]:
    """Run ``step`` once to warm up, then until ``seconds`` have passed: (calls, wall seconds, CPU
    seconds of this process, all threads)."""
    step()
    calls, started, cpu_started = 0, time.perf_counter(), time.process_time()
    while calls == 0 or time.perf_counter() - started < seconds:
        step()
        calls += 1
    return calls, time.perf_counter() - started, time.process_time() - cpu_started


def test_photo(width: int, height: int) -> np.ndarray:
    """A ``width`` x ``height`` RGB photo with one real face: the astronaut scaled to the height."""
    canvas = np.full((height, width, 3), 127, np.uint8)
    person = cv2.resize(skimage_data.astronaut(), (height, height), interpolation=cv2.INTER_AREA)
    left = (width - height) // 2
    canvas[:, left : left + height] = person
    return canvas


def bench_crops(recognizer: EmotionRecognizer, seconds: float) -> dict[str, float]:
    size = recognizer.input_size
    crops = np.random.default_rng(0).integers(0, 256, (64, size, size), dtype=np.uint8)
    results = {}
    for batch in (1, 64):
        calls, wall, cpu = repeat_for(seconds, lambda batch=batch: recognizer.classifier.predict(crops[:batch]))
        results[f"crops_per_s_batch{batch}"] = calls * batch / wall
        results[f"cpu_ms_per_crop_batch{batch}"] = 1000 * cpu / (calls * batch)
    return results


def bench_photos(recognizer: EmotionRecognizer, width: int, height: int, batch: int, seconds: float) -> dict:
    frames = [test_photo(width, height)] * batch
    found = recognizer.detector.detect(frames)
    faces = sum(len(d) for d in found)
    crops = np.concatenate([align_faces(f, d, recognizer.input_size, recognizer.margin) for f, d in zip(frames, found)])
    stages = {
        "detect": lambda: recognizer.detector.detect(frames),
        "align": lambda: [align_faces(f, d, recognizer.input_size, recognizer.margin) for f, d in zip(frames, found)],
        "classify": lambda: recognizer.classifier.predict(crops),
    }
    stage_ms = {}
    for name, step in stages.items():
        calls, wall, _ = repeat_for(seconds / 3, step)
        stage_ms[name] = 1000 * wall / (calls * batch)
    calls, wall, cpu = repeat_for(seconds, lambda: recognizer.predict_frames(frames))
    return {
        "size": f"{width}x{height}",
        "faces_per_photo": faces / batch,
        "photos_per_s": calls * batch / wall,
        "ms_per_photo": 1000 * wall / (calls * batch),
        "cpu_ms_per_photo": 1000 * cpu / (calls * batch),
        "stage_ms_per_photo": stage_ms,
    }


def machine() -> dict:
    return {
        "hardware": hardware_description(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1min_at_start": os.getloadavg()[0],
        "torch": torch.__version__,
    }


def main(args: argparse.Namespace) -> None:
    out = Path(args.out)
    json_path, md_path = out / "bench_image.json", out / "bench_image.md"
    check_overwrite_or_exit([json_path, md_path], args.overwrite)
    if args.threads:
        torch.set_num_threads(args.threads)
    host = machine()
    recognizer = EmotionRecognizer(
        weights=args.weights, model=args.model, detector=args.detector, device=args.device, backend=args.backend
    )
    crops = bench_crops(recognizer, args.seconds)
    photos = [bench_photos(recognizer, w, h, args.photo_batch, args.seconds) for w, h in PHOTO_SIZES]
    vga = photos[0]["photos_per_s"]
    report = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "commit": source_revision(),
        "machine": host,
        "settings": {
            "device": str(recognizer.device),
            "backend": recognizer.classifier.backend_name,
            "detector": args.detector,
            "photo_batch": args.photo_batch,
            "max_detect_side": getattr(recognizer.detector, "max_detect_side", None),
            "min_face_size": getattr(recognizer.detector, "min_face_size", None),
            "margin": recognizer.margin,
            "input_size": recognizer.input_size,
            "model": recognizer.classifier.meta.get("model"),
        },
        "crops": crops,
        "photos": photos,
        "targets": {
            "crops_per_s_batch64": {
                "target": TARGET_CROPS_PER_S,
                "met": crops["crops_per_s_batch64"] >= TARGET_CROPS_PER_S,
            },
            "photos_per_s_640x480": {"target": TARGET_PHOTOS_PER_S, "met": vga >= TARGET_PHOTOS_PER_S},
        },
    }
    write_report(json_path, md_path, report, markdown(report))
    print(markdown(report))


def markdown(report: dict) -> str:
    host, settings, crops = report["machine"], report["settings"], report["crops"]
    lines = [
        "# Image inference benchmark",
        "",
        (
            f"{report['date']}, commit {report['commit']}, on {host['hardware']} ({host['platform']}); "
            f"torch threads {host['torch_threads']}, "
            f"1-minute load average at start {host['load_average_1min_at_start']:.2f} (above the core count means "
            "other work shared the CPU and the figures are low)."
        ),
        (
            f"Device {settings['device']}, backend {settings.get('backend', 'torch')}, model `{settings['model']}` "
            f"({settings['input_size']} px crops), detector "
            f"`{settings['detector']}` (max side {settings['max_detect_side']}, min face {settings['min_face_size']} px), "
            f"margin {settings['margin']}, {settings['photo_batch']} photos per batch."
        ),
        "",
        (
            "CPU ms: process CPU time (all threads) per item; on an idle machine, CPU ms / wall ms shows how well "
            "the threads are used (when the CPU is shared, thread spin-waits inflate it)."
        ),
        "",
        "| classifier | crops/s | CPU ms/crop |",
        "|---|---|---|",
        f"| batch 1 | {crops['crops_per_s_batch1']:.0f} | {crops['cpu_ms_per_crop_batch1']:.2f} |",
        f"| batch 64 | {crops['crops_per_s_batch64']:.0f} | {crops['cpu_ms_per_crop_batch64']:.2f} |",
        "",
        "| photo | photos/s | ms/photo | CPU ms/photo | detect ms | align ms | classify ms | faces/photo |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in report["photos"]:
        stage = row["stage_ms_per_photo"]
        lines.append(
            f"| {row['size']} | {row['photos_per_s']:.1f} | {row['ms_per_photo']:.1f} | {row['cpu_ms_per_photo']:.1f} | "
            f"{stage['detect']:.1f} | "
            f"{stage['align']:.2f} | {stage['classify']:.2f} | {row['faces_per_photo']:g} |"
        )
    lines += ["", "| target | goal | met |", "|---|---|---|"]
    lines += [
        f"| {name} | >= {t['target']:g} | {'yes' if t['met'] else 'no'} |" for name, t in report["targets"].items()
    ]
    lines += ["", "Rerun: `python scripts/bench_image.py --overwrite` (see `--help`).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main(get_args_parser().parse_args())
