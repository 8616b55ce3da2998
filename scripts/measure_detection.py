"""Measure where face detection misses on real photos, and what the photo looks (fer_video.faces.photos) fix.

Every image comes from real photos or video available offline, degraded or recomposed:

- faces: frames of the real clips in ``--clips`` (``labelled/`` and ``unlabelled/``; every frame
  shows one face), scikit-image's astronaut and matplotlib's Grace Hopper, each clean, with
  small faces (shrunk), pasted small into a large real no-face photo (4032 x 3024), darkened,
  flattened, grayscale, turned and cut at the face; FER2013 PublicTest faces as tight crops and
  pasted small into real no-face photos; scikit-image's LFW faces (25 x 25 crops);
- no faces: scikit-image's and scikit-learn's real photos without a person, crops of them,
  regions of the clips' frames away from the face, scikit-image's LFW non-faces, with the same
  degradations.

A face counts as found when a detected box's centre lies in the face's box (the box MTCNN finds
on the clean frame, or the pasted face, carried through the edit); every other box is a false
face. Each image is detected ``before`` (``detector.detect``, what every photo got until now and
what every video frame gets) and ``after`` (``fer_video.faces.photos.detect_photos``, what
``EmotionRecognizer.predict`` runs). With ``--baseline DIR`` (an earlier checkout) the time of a
no-face clip through ``fer_video.video.annotate_video`` is measured with both packages.
Writes results/detection/: detection.md (the report), detection.csv (per condition), totals.csv
(per group) and images.csv (per image).

    python scripts/measure_detection.py --baseline /tmp/fer-video-before --overwrite
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

#: Side of the large photos small faces are pasted into (a 12-megapixel phone photo).
LARGE_PHOTO = (4032, 3024)
#: Groups of conditions, in report order.
GROUPS = ("ordinary", "pose and framing", "no face")


@dataclass
class Case:
    """One test image: its condition, where it comes from, and the face's box (None: no face)."""

    condition: str
    group: str
    source: str
    image: np.ndarray
    box: np.ndarray | None


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="FER2013 (default: $FER2013_PATH or ../shared/data/fer2013.zip)")
    parser.add_argument("--clips", default="../shared/data/real_video", help="folder with labelled/ and unlabelled/")
    parser.add_argument("--frames-per-clip", type=int, default=3, help="frames taken from each clip")
    parser.add_argument("--fer-count", type=int, default=300, help="FER2013 PublicTest faces per condition")
    parser.add_argument("--crops-per-photo", type=int, default=4, help="random crops per no-face photo and size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument("--video-seconds", type=float, default=10.0, help="length of the no-face clip (0: skip)")
    parser.add_argument("--video-repeats", type=int, default=3, help="timed runs of the clip per package (best kept)")
    parser.add_argument("--baseline", type=Path, help="an earlier checkout; its annotate_video is timed too")
    parser.add_argument("--out", default="results/detection", help="folder for the csv and markdown files")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--time-clip", type=Path, help=argparse.SUPPRESS)  # internal: time one clip, print JSON
    return parser


# ---- real images --------------------------------------------------------------------------


def clip_frames(folder: Path, per_clip: int) -> list[tuple[str, np.ndarray]]:
    """``per_clip`` evenly spaced RGB frames of every clip under ``folder`` (not the first or last)."""
    frames = []
    for path in sorted(folder.glob("*/*.mp4")):
        capture = cv2.VideoCapture(str(path))
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        for index in np.linspace(0, count - 1, per_clip + 2)[1:-1].astype(int):
            capture.set(cv2.CAP_PROP_POS_FRAMES, int(index))
            ok, frame = capture.read()
            if ok:
                frames.append((f"{path.parent.name}/{path.stem}#{index}", cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)))
        capture.release()
    return frames


def face_photos(clips: Path, per_clip: int) -> list[tuple[str, np.ndarray]]:
    """Real photos with one face: clip frames, the astronaut, Grace Hopper."""
    import matplotlib.cbook
    from skimage import data

    from fer_video.imaging import load_image

    hopper = load_image(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    return [*clip_frames(clips, per_clip), ("skimage/astronaut", data.astronaut()), ("matplotlib/grace_hopper", hopper)]


def no_face_photos() -> list[tuple[str, np.ndarray]]:
    """Real photos without a person: scikit-image's and scikit-learn's sample photos."""
    from skimage import data
    from sklearn.datasets import load_sample_images

    from fer_video.imaging import array_to_rgb

    names = (
        "coffee", "chelsea", "rocket", "brick", "grass", "gravel", "clock", "coins", "moon", "page", "text",
        "hubble_deep_field", "immunohistochemistry", "retina", "cell",
    )  # fmt: skip
    photos = [(f"skimage/{name}", array_to_rgb(getattr(data, name)())) for name in names]
    left, right, _ = data.stereo_motorcycle()
    photos += [("skimage/motorcycle_left", left), ("skimage/motorcycle_right", right)]
    samples = load_sample_images()
    photos += [(f"sklearn/{Path(f).stem}", image) for f, image in zip(samples.filenames, samples.images)]
    return photos


def lfw_crops() -> tuple[np.ndarray, np.ndarray]:
    """scikit-image's LFW subset: 100 face crops and 100 non-face crops, 25 x 25 grayscale uint8."""
    from skimage import data

    images = (data.lfw_subset() * 255).round().astype(np.uint8)
    return images[:100], images[100:]


# ---- edits --------------------------------------------------------------------------------


def rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[..., None], 3, axis=2)


def resized(image: np.ndarray, factor: float) -> np.ndarray:
    size = (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[0] * factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)


def jpeg(image: np.ndarray, quality: int = 90) -> np.ndarray:
    """The image after a JPEG round trip (how dark and flat photos reach users)."""
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def exposed(image: np.ndarray, factor: float) -> np.ndarray:
    """Under-exposed: values scaled by ``factor``, then JPEG."""
    return jpeg((image * factor).round().astype(np.uint8))


def gamma(image: np.ndarray, power: float) -> np.ndarray:
    """Crushed shadows: values raised to ``power`` (0..1 scale), then JPEG."""
    return jpeg((255 * (image / 255.0) ** power).round().astype(np.uint8))


def flattened(image: np.ndarray, factor: float) -> np.ndarray:
    """Low contrast (haze): deviations from mid-grey scaled by ``factor``, then JPEG."""
    return jpeg(((image.astype(np.float32) - 128) * factor + 128).round().clip(0, 255).astype(np.uint8))


def grayscale(image: np.ndarray) -> np.ndarray:
    return rgb(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))


def box_corners(box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = box
    return np.array([[x1, y1], [x2, y1], [x1, y2], [x2, y2]], np.float64)


def carried(box: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """The axis-aligned box around ``box``'s corners after the 2 x 3 affine ``matrix``."""
    corners = box_corners(box) @ matrix[:, :2].T + matrix[:, 2]
    return np.concatenate([corners.min(0), corners.max(0)])


def rotated(image: np.ndarray, box: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """Turned by ``degrees`` about the face's centre (same size, edges replicated)."""
    center = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    matrix = cv2.getRotationMatrix2D(center, degrees, 1.0)
    turned = cv2.warpAffine(image, matrix, image.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)
    return turned, carried(box, matrix)


def cut_at_face(image: np.ndarray, box: np.ndarray, visible: float) -> tuple[np.ndarray, np.ndarray]:
    """The photo cut at a vertical line through the face, ``visible`` of its width left in view;
    the whole face's box (partly outside the photo: a box for the part in view counts too)."""
    x = max(int(round(box[2] - visible * (box[2] - box[0]))), 0)
    return image[:, x:].copy(), box - np.array([x, 0, x, 0])


def shrunk_to_face(image: np.ndarray, box: np.ndarray, face_side: int) -> tuple[np.ndarray, np.ndarray]:
    """The photo shrunk so the face box's longer side is ``face_side`` pixels."""
    factor = face_side / max(box[2] - box[0], box[3] - box[1])
    small = resized(image, factor)
    return small, box * np.array([small.shape[1] / image.shape[1], small.shape[0] / image.shape[0]] * 2)


def pasted(background: np.ndarray, image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``image`` pasted at a random place into a copy of ``background``; where it went (x, y)."""
    canvas = background.copy()
    height, width = image.shape[:2]
    y = int(rng.integers(0, canvas.shape[0] - height + 1))
    x = int(rng.integers(0, canvas.shape[1] - width + 1))
    canvas[y : y + height, x : x + width] = image
    return canvas, np.array([x, y, x, y], np.float64)


def background(photos: list[tuple[str, np.ndarray]], index: int, size: tuple[int, int]) -> np.ndarray:
    """A no-face photo, resized and cropped to fill ``size`` (width, height)."""
    photo = photos[index % len(photos)][1]
    factor = max(size[0] / photo.shape[1], size[1] / photo.shape[0])
    big = resized(photo, factor)
    y0, x0 = (big.shape[0] - size[1]) // 2, (big.shape[1] - size[0]) // 2
    return np.ascontiguousarray(big[y0 : y0 + size[1], x0 : x0 + size[0]])


# ---- test sets ----------------------------------------------------------------------------


def reference_boxes(detector, photos: list[tuple[str, np.ndarray]]) -> list[np.ndarray | None]:
    """The largest face ``detector`` finds on each clean photo (None where it finds none)."""
    boxes = []
    for found in detector.detect([photo for _, photo in photos]):
        if not len(found):
            boxes.append(None)
            continue
        areas = (found.boxes[:, 2] - found.boxes[:, 0]) * (found.boxes[:, 3] - found.boxes[:, 1])
        boxes.append(found.boxes[int(np.argmax(areas))].astype(np.float64))
    return boxes


def photo_cases(
    photos: list[tuple[str, np.ndarray]], boxes: list[np.ndarray], backgrounds: list, rng: np.random.Generator
) -> Iterator[Case]:
    """Each face photo under each condition, with its face box carried through the edit."""
    same: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "clean": lambda im: im,
        "dark: exposure x0.2": lambda im: exposed(im, 0.2),
        "dark: exposure x0.1": lambda im: exposed(im, 0.1),
        "dark: gamma 3": lambda im: gamma(im, 3.0),
        "low contrast x0.25": lambda im: flattened(im, 0.25),
        "low contrast x0.15": lambda im: flattened(im, 0.15),
        "grayscale": grayscale,
    }
    for (source, photo), box in zip(photos, boxes):
        for condition, edit in same.items():
            yield Case(f"photo, {condition}", "ordinary", source, edit(photo), box)
        for side in (32, 24, 16):
            yield Case(f"photo, face shrunk to {side} px", "ordinary", source, *shrunk_to_face(photo, box, side))
        for side in (160, 100):
            small, small_box = shrunk_to_face(photo, box, side)
            canvas, offset = pasted(backgrounds[len(source) % len(backgrounds)], small, rng)
            yield Case(f"photo in a 4032x3024 photo, face {side} px", "ordinary", source, canvas, small_box + offset)
        for degrees in (30, 45, 60, 90):
            yield Case(f"photo turned {degrees} deg", "pose and framing", source, *rotated(photo, box, degrees))
        for visible in (0.7, 0.5):
            case = cut_at_face(photo, box, visible)
            yield Case(f"photo cut through the face, {visible:.0%} visible", "pose and framing", source, *case)


def fer_cases(faces: np.ndarray, no_face: list[tuple[str, np.ndarray]], rng: np.random.Generator) -> Iterator[Case]:
    """FER2013 faces (48 x 48 grayscale) as tight crops and pasted small into real no-face photos."""
    small_canvas = [background(no_face, i, (640, 480)) for i in range(len(no_face))]
    large_canvas = [background(no_face, i, LARGE_PHOTO) for i in range(3)]
    for index, face in enumerate(faces):
        source = f"fer2013/publictest#{index}"
        yield Case("FER2013 face crop, 48 px", "ordinary", source, rgb(face), np.array([0, 0, 48, 48], np.float64))
        big = resized(rgb(face), 2)
        yield Case("FER2013 face crop, 96 px", "ordinary", source, big, np.array([0, 0, 96, 96], np.float64))
        for side in (64, 40, 28):
            canvas, offset = pasted(small_canvas[index % len(small_canvas)], resized(rgb(face), side / 48), rng)
            yield Case(f"FER2013 face in a 640x480 photo, {side} px", "ordinary", source, canvas,
                       offset + [0, 0, side, side])  # fmt: skip
        canvas, offset = pasted(large_canvas[index % len(large_canvas)], resized(rgb(face), 160 / 48), rng)
        yield Case("FER2013 face in a 4032x3024 photo, 160 px", "ordinary", source, canvas, offset + [0, 0, 160, 160])


def lfw_cases(faces: np.ndarray, non_faces: np.ndarray) -> Iterator[Case]:
    for index, face in enumerate(faces):
        yield Case("LFW face crop, 25 px", "ordinary", f"lfw#{index}", rgb(face), np.array([0, 0, 25, 25], np.float64))
        big = resized(rgb(face), 4)
        yield Case("LFW face crop, 100 px", "ordinary", f"lfw#{index}", big, np.array([0, 0, 100, 100], np.float64))
    for index, crop in enumerate(non_faces):
        yield Case("LFW non-face crop, 25 px", "no face", f"lfw#{100 + index}", rgb(crop), None)
        yield Case("LFW non-face crop, 100 px", "no face", f"lfw#{100 + index}", resized(rgb(crop), 4), None)


def no_face_cases(
    photos: list[tuple[str, np.ndarray]], frames: list, args: argparse.Namespace, rng: np.random.Generator
) -> Iterator[Case]:
    """No-face photos as they are, degraded, as crops, and regions of the clips away from the face."""
    for source, photo in photos:
        yield Case("no-face photo, clean", "no face", source, photo, None)
        yield Case("no-face photo, dark: exposure x0.1", "no face", source, exposed(photo, 0.1), None)
        yield Case("no-face photo, low contrast x0.15", "no face", source, flattened(photo, 0.15), None)
        yield Case("no-face photo, grayscale", "no face", source, grayscale(photo), None)
        yield Case("no-face photo, turned 90 deg", "no face", source, np.ascontiguousarray(np.rot90(photo)), None)
        yield Case("no-face photo, shrunk to 64 px", "no face", source, resized(photo, 64 / max(photo.shape[:2])), None)
        large = resized(photo, LARGE_PHOTO[0] / photo.shape[1])
        yield Case("no-face photo, enlarged to 4032 px wide", "no face", source, large, None)
        for side in (48, 96, 200):
            for _ in range(args.crops_per_photo):
                side_ = min(side, *photo.shape[:2])
                y = int(rng.integers(0, photo.shape[0] - side_ + 1))
                x = int(rng.integers(0, photo.shape[1] - side_ + 1))
                crop = np.ascontiguousarray(photo[y : y + side_, x : x + side_])
                yield Case(f"no-face photo, {side} px crop", "no face", f"{source}@{x},{y}", crop, None)
    for (source, frame), box in frames:
        region = away_from_face(frame, box)
        if region is not None:
            yield Case("clip frame, region away from the face", "no face", source, region, None)


def away_from_face(frame: np.ndarray, box: np.ndarray, min_side: int = 64) -> np.ndarray | None:
    """The largest strip of ``frame`` left of, right of or below the face box grown by half its
    size on each side (so no part of the face is in it); None if none is ``min_side`` wide."""
    height, width = frame.shape[:2]
    w, h = box[2] - box[0], box[3] - box[1]
    x1, x2 = int(box[0] - w / 2), int(np.ceil(box[2] + w / 2))
    y2 = int(np.ceil(box[3] + h / 2))
    strips = [frame[:, : max(x1, 0)], frame[:, max(x2, 0) :], frame[max(y2, 0) :, :]]
    strips = [s for s in strips if min(s.shape[:2]) >= min_side]
    return np.ascontiguousarray(max(strips, key=lambda s: s.size)) if strips else None


# ---- scoring ------------------------------------------------------------------------------


def score(case: Case, found) -> tuple[bool, int]:
    """Whether the face was found, and how many boxes are false faces."""
    if not len(found):
        return False, 0
    centres = (found.boxes[:, :2] + found.boxes[:, 2:]) / 2
    if case.box is None:
        return False, len(found)
    x1, y1, x2, y2 = case.box
    inside = (centres[:, 0] >= x1) & (centres[:, 0] <= x2) & (centres[:, 1] >= y1) & (centres[:, 1] <= y2)
    return bool(inside.any()), int((~inside).sum())


def run_detection(cases: Iterator[Case], methods: dict[str, Callable]) -> pd.DataFrame:
    """Each case detected alone (as a user's photo would be) by each method, timed: one row per
    case with ``found_<method>``, ``false_faces_<method>`` and ``ms_<method>``. Images are made
    one at a time and dropped after use (the large photos would not all fit in memory)."""
    rows = []
    for number, case in enumerate(cases):
        row = {"condition": case.condition, "group": case.group, "source": case.source, "has_face": case.box is not None}
        for name, detect in methods.items():
            start = time.perf_counter()
            found = detect([case.image])[0]
            row[f"ms_{name}"] = 1000 * (time.perf_counter() - start)
            row[f"found_{name}"], row[f"false_faces_{name}"] = score(case, found)
        rows.append(row)
        if (number + 1) % 250 == 0:
            print(f"{number + 1} images", flush=True)
    return pd.DataFrame(rows)


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per condition: face-found rates, images with false faces, ms per image, before and after."""
    frame = rows.assign(false_before=rows.false_faces_before > 0, false_after=rows.false_faces_after > 0)
    table = frame.groupby(["group", "condition"], sort=False).agg(
        images=("has_face", "size"),
        has_face=("has_face", "first"),
        found_before=("found_before", "mean"),
        found_after=("found_after", "mean"),
        false_before=("false_before", "mean"),
        false_after=("false_after", "mean"),
        ms_before=("ms_before", "median"),
        ms_after=("ms_after", "median"),
    )
    table = table.reset_index()
    table.loc[~table.has_face, ["found_before", "found_after"]] = np.nan
    return table.drop(columns="has_face")


def group_totals(rows: pd.DataFrame) -> pd.DataFrame:
    """Per group: missed-face rate (images with a face) and false-face rate, before and after."""
    totals = []
    for group in GROUPS:
        mine = rows[rows.group == group]
        faces = mine[mine.has_face]
        totals.append(
            {
                "group": group,
                "images": len(mine),
                "missed_before": float(1 - faces.found_before.mean()) if len(faces) else np.nan,
                "missed_after": float(1 - faces.found_after.mean()) if len(faces) else np.nan,
                "false_before": float((mine.false_faces_before > 0).mean()),
                "false_after": float((mine.false_faces_after > 0).mean()),
                "false_faces_before": int(mine.false_faces_before.sum()),
                "false_faces_after": int(mine.false_faces_after.sum()),
                "ms_before": float(mine.ms_before.median()),
                "ms_after": float(mine.ms_after.median()),
            }
        )
    return pd.DataFrame(totals)


# ---- a no-face clip through the video path -------------------------------------------------


def make_no_face_clip(path: Path, photos: list[tuple[str, np.ndarray]], seconds: float) -> Path:
    """1280 x 720, 30 fps: a window panning across the no-face photos side by side."""
    import av

    strip = np.concatenate([background(photos, i, (960, 720)) for i in range(len(photos))], axis=1)
    count = round(seconds * 30)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30, options={"preset": "ultrafast", "crf": "20"})
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        for i in range(count):
            x0 = int((strip.shape[1] - 1280) * i / max(count - 1, 1))
            frame = np.ascontiguousarray(strip[:, x0 : x0 + 1280])
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def time_clip(clip: Path, repeats: int) -> dict:
    """Best wall and CPU time of ``annotate_video`` on ``clip`` (default options, models loaded once)."""
    from fer_video.video import VideoOptions, annotate_video, load_models

    options = VideoOptions(device="cpu")
    recognizer, gru = load_models(options)
    runs = []
    with tempfile.TemporaryDirectory() as work:
        for repeat in range(repeats):
            start, cpu = time.perf_counter(), time.process_time()
            report = annotate_video(clip, Path(work) / str(repeat), options, recognizer, gru)
            runs.append((time.perf_counter() - start, time.process_time() - cpu, report.tracks))
    wall, cpu, tracks = min(runs)
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "tracks": tracks, "runs_wall_s": [round(r[0], 3) for r in runs]}


def time_clip_with(package_root: Path | None, clip: Path, args: argparse.Namespace) -> dict:
    """:func:`time_clip` in a child process that imports fer_video from ``package_root`` (None: this one)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--time-clip", str(clip)]
    command += ["--video-repeats", str(args.video_repeats), "--threads", str(args.threads)]
    env = dict(os.environ)
    root = (package_root or Path(__file__).resolve().parents[1]).resolve()
    env["PYTHONPATH"] = str(root)
    done = subprocess.run(command, check=True, env=env, cwd=root, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---- report -------------------------------------------------------------------------------


def cpu_features() -> str:
    """The vector extensions of this CPU that decide PyTorch's speed (Linux), e.g. ``AVX2; no AVX-512``."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            flags = next((line.split(":", 1)[1].split() for line in handle if line.startswith("flags")), [])
    except OSError:
        return "CPU features unknown"
    names = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_vnni": "AVX512-VNNI", "avx512_bf16": "AVX512-BF16",
             "amx_tile": "AMX"}  # fmt: skip
    have = [name for flag, name in names.items() if flag in flags]
    lacking = [name for flag, name in names.items() if flag not in flags]
    return "; ".join(filter(None, [", ".join(have), ("no " + ", ".join(lacking)) if lacking else ""]))


def percent(value: float) -> str:
    return "" if pd.isna(value) else f"{100 * value:.1f} %"


def markdown(table: pd.DataFrame, totals: pd.DataFrame, meta: dict) -> str:
    lines = [
        "# Face detection on real photos: where it misses, before and after the photo looks",
        "",
        meta["intro"],
        "",
        "## Totals",
        "",
        "| group | images | faces missed, before | after | images with a false face, before | after | false faces, before | after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in totals.itertuples(index=False):
        lines.append(
            f"| {row.group} | {row.images} | {percent(row.missed_before)} | {percent(row.missed_after)} | "
            f"{percent(row.false_before)} | {percent(row.false_after)} | {row.false_faces_before} | "
            f"{row.false_faces_after} |"
        )
    lines += [
        "",
        "## Per condition",
        "",
        "`found`: images where the face was found; `false`: images with a box that is not the face "
        "(on no-face images, any box); `ms`: median milliseconds per image (detection only).",
        "",
        "| group | condition | images | found, before | after | false, before | after | ms, before | after |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in table.itertuples(index=False):
        lines.append(
            f"| {row.group} | {row.condition} | {row.images} | {percent(row.found_before)} | "
            f"{percent(row.found_after)} | {percent(row.false_before)} | {percent(row.false_after)} | "
            f"{row.ms_before:.0f} | {row.ms_after:.0f} |"
        )
    lines += ["", *meta["video"], "", *meta["footer"], ""]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    if args.time_clip is not None:  # the child of time_clip_with
        print(json.dumps(time_clip(args.time_clip, args.video_repeats)))
        return
    from fer_video.checkpoint import hardware_description
    from fer_video.data import load_fer2013, resolve_fer2013_path
    from fer_video.evaluate.outputs import atomic_path, check_overwrite, write_text_atomic
    from fer_video.faces import create_detector
    from fer_video.faces.photos import PhotoSearch, detect_photos

    out = Path(args.out)
    paths = [out / "detection.csv", out / "totals.csv", out / "images.csv", out / "detection.md"]
    check_overwrite(paths, args.overwrite)
    clips = Path(args.clips)
    if not any(clips.glob("*/*.mp4")):
        raise SystemExit(f"no clips found under {clips}/*/*.mp4; pass --clips")
    data_path = resolve_fer2013_path(args.data)
    if data_path is None:
        raise SystemExit("FER2013 not found: pass --data or set FER2013_PATH")
    rng = np.random.default_rng(args.seed)
    load_start = os.getloadavg()[0]
    detector = create_detector("mtcnn", device="cpu")

    photos = face_photos(clips, args.frames_per_clip)
    boxes = reference_boxes(detector, photos)
    unboxed = [source for (source, _), box in zip(photos, boxes) if box is None]
    photos = [p for p, box in zip(photos, boxes) if box is not None]
    boxes = [box for box in boxes if box is not None]
    no_face = no_face_photos()
    large_canvas = [background(no_face, i, LARGE_PHOTO) for i in range(3)]
    test = load_fer2013(data_path, splits=["publictest"])["publictest"]
    fer_faces = test.images[rng.permutation(len(test))[: args.fer_count]]
    lfw_faces, lfw_non_faces = lfw_crops()
    frames = [(p, box) for p, box in zip(photos, boxes) if "#" in p[0]]  # the clip frames
    cases = itertools.chain(
        photo_cases(photos, boxes, large_canvas, rng),
        fer_cases(fer_faces, no_face, rng),
        lfw_cases(lfw_faces, lfw_non_faces),
        no_face_cases(no_face, frames, args, rng),
    )
    print(f"{len(unboxed)} photos without a reference face dropped: {unboxed}", flush=True)
    search = PhotoSearch()
    methods = {"before": detector.detect, "after": lambda images: detect_photos(detector, images, search)}
    rows = run_detection(cases, methods)
    rows = rows.sort_values("group", key=lambda g: g.map(GROUPS.index), kind="stable")
    table, totals = summarise(rows), group_totals(rows)

    video = ["## A no-face clip through the video path", ""]
    if args.video_seconds > 0:
        with tempfile.TemporaryDirectory() as tmp:
            clip = make_no_face_clip(Path(tmp) / "no_face.mp4", no_face, args.video_seconds)
            now = time_clip_with(None, clip, args)
            then = time_clip_with(args.baseline, clip, args) if args.baseline else None
        video.append(
            f"`annotate_video` with the default options (10 fps analysed, GRU, annotated MP4) on a "
            f"{args.video_seconds:g} s 1280x720 30 fps clip panning across the no-face photos (generated from "
            f"them), best of {args.video_repeats} runs: **{now['wall_s']:.2f} s** wall, {now['cpu_s']:.2f} s CPU, "
            f"{now['tracks']} tracks, with this code"
            + (
                f"; **{then['wall_s']:.2f} s** wall, {then['cpu_s']:.2f} s CPU, {then['tracks']} tracks with "
                f"the baseline checkout `{args.baseline}`."
                if then
                else " (no baseline given)."
            )
        )
    else:
        video.append("Not measured (`--video-seconds 0`).")

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True).stdout.strip()
    meta = {
        "intro": (
            f"{len(rows)} images built from real photos and video frames (see `scripts/measure_detection.py`): "
            f"{len(photos)} face photos ({args.frames_per_clip} frames of each clip in `{clips}`, the astronaut, "
            f"Grace Hopper), {args.fer_count} FER2013 PublicTest faces (seed {args.seed}), scikit-image's 100 LFW "
            f"faces and 100 non-faces, {len(no_face)} no-face photos. **before**: `MTCNNDetector.detect` "
            "(min face 40 px, score 0.9, photos shrunk to 640 px), what every photo got until now and every "
            "video frame still gets; **after**: `fer_video.faces.photos.detect_photos` with "
            f"`{search}`, what `EmotionRecognizer.predict` runs. The look settings were chosen on these "
            "same images, so the after figures are not from held-out data."
        ),
        "video": video,
        "footer": [
            (
                f"Measured {datetime.date.today().isoformat()} at commit {commit}"
                f"{' (with uncommitted changes)' if dirty else ''} on {hardware_description()} ({cpu_features()}), "
                f"{args.threads} torch thread(s); 1-minute load average {load_start:.2f} at start and "
                f"{os.getloadavg()[0]:.2f} at the end (the CPU is shared; times are indicative)."
            ),
            f"Rerun: `python scripts/measure_detection.py --overwrite{' --baseline DIR' if args.baseline else ''}`.",
        ],
    }
    with atomic_path(paths[0]) as partial:
        table.to_csv(partial, index=False, float_format="%.4f")
    with atomic_path(paths[1]) as partial:
        totals.to_csv(partial, index=False, float_format="%.4f")
    with atomic_path(paths[2]) as partial:
        rows.to_csv(partial, index=False, float_format="%.1f")
    write_text_atomic(paths[3], markdown(table, totals, meta))
    print(markdown(table, totals, meta))


if __name__ == "__main__":
    main(get_args_parser().parse_args())
