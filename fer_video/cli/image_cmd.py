"""``fer-video image``: emotions of every face in photos (files, folders, globs)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fer_video.backends import BACKENDS
from fer_video.cli.options import add_model_option, output_folder
from fer_video.faces import DETECTORS

if TYPE_CHECKING:
    from fer_video.recognizer import FaceResult

RESULTS_CSV = "emotions.csv"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "image",
        help="recognise facial emotions in photos",
        description="Detect every face in each photo and classify its emotion. Prints a table per image "
        "(or JSON with --json); --out writes annotated copies and one CSV for the batch.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files, folders or glob patterns")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON instead of tables")
    parser.add_argument("--out", help=f"folder for annotated copies and {RESULTS_CSV}")
    parser.add_argument("--overwrite", action="store_true", help="replace existing files in --out")
    parser.add_argument("--no-detect", action="store_true", help="the images are already face crops")
    parser.add_argument("--recursive", action="store_true", help="also search subfolders of folder arguments")
    parser.add_argument("--detector", choices=DETECTORS, default="mtcnn", help="face detector (default: mtcnn)")
    add_model_option(parser)
    parser.add_argument("--weights", help="emotion CNN checkpoint (default: the CNN of --model)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    add_backend_option(parser)
    parser.add_argument(
        "--margin", type=float, help="context around each face, fraction of its box (default: measured)"
    )
    parser.add_argument("--min-face-size", type=int, default=40, help="smallest face, pixels at detection scale")
    parser.add_argument("--score-threshold", type=float, default=0.9, help="minimum detection score (mtcnn)")
    parser.add_argument("--max-detect-side", type=int, default=640, help="shrink larger images to this for detection")
    parser.add_argument("--batch-size", type=int, default=8, help="images detected and classified together")
    parser.set_defaults(func=run)


def add_backend_option(parser: argparse.ArgumentParser) -> None:
    """``--backend``, shared by the commands that run the emotion CNN."""
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="what runs the emotion CNN: auto (ONNX Runtime on the CPU when installed, PyTorch on CUDA), torch, "
        "onnx, or onnx-int8 (quantized, a little less accurate) (default: auto)",
    )


def annotated_names(files: Sequence[Path]) -> list[str]:
    """``<stem>_annotated.<jpg|png>`` per input, made unique within the batch."""
    names, used = [], set()
    for file in files:
        suffix = ".jpg" if file.suffix.lower() in (".jpg", ".jpeg") else ".png"
        name, copy = f"{file.stem}_annotated{suffix}", 2
        while name in used:
            name, copy = f"{file.stem}_annotated_{copy}{suffix}", copy + 1
        used.add(name)
        names.append(name)
    return names


def format_table(name: str, results: Sequence[FaceResult], classes: Sequence[str]) -> str:
    """A readable block for one image: one row per face with box, score, label and probabilities."""
    lines = [f"{name}: {len(results)} face{'s' if len(results) != 1 else ''}"]
    if results:
        header = f"  {'face':>4}  {'box x1,y1,x2,y2':<21} {'score':>5}  {'label':<8} {'conf':>5}  "
        lines.append(header + " ".join(f"{c[:7]:>7}" for c in classes))
        for index, face in enumerate(results):
            box = ",".join(f"{v:.0f}" for v in face.box)
            row = f"  {index:>4}  {box:<21} {face.score:5.2f}  {face.label:<8} {face.confidence:5.2f}  "
            lines.append(row + " ".join(f"{face.probabilities[c]:7.3f}" for c in classes))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from fer_video.evaluate.outputs import atomic_path, check_overwrite
    from fer_video.imaging import annotate_image, collect_image_paths, save_image
    from fer_video.recognizer import EmotionRecognizer, recognise_files, results_table

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    files, failures = collect_image_paths(args.paths, recursive=args.recursive)
    out = output_folder(args.out) if args.out else None
    if out is not None:
        outputs = [out / name for name in annotated_names(files)]
        check_overwrite([out / RESULTS_CSV, *outputs], args.overwrite)
    recognizer = EmotionRecognizer(
        weights=args.weights,
        model=args.model,
        detector=args.detector,
        device=args.device,
        margin=args.margin,
        min_face_size=args.min_face_size,
        score_threshold=args.score_threshold,
        max_detect_side=args.max_detect_side,
        backend=args.backend,
    )

    processed: list[tuple[str, list]] = []
    progress = tqdm(total=len(files), unit="image", disable=True if len(files) < 2 else None, file=sys.stderr)
    for index, file, frame, outcome in recognise_files(recognizer, files, args.batch_size, not args.no_detect):
        progress.update()
        if isinstance(outcome, str):
            failures.append((str(file), outcome))
            continue
        processed.append((str(file), outcome))
        if out is not None:
            save_image(annotate_image(frame, outcome), outputs[index])
        if not args.json:
            progress.write(format_table(str(file), outcome, recognizer.classes), file=sys.stdout)
    progress.close()

    if out is not None:
        with atomic_path(out / RESULTS_CSV) as partial:
            results_table(processed, recognizer.classes).to_csv(partial, index=False, float_format="%.4f")
    if args.json:
        report = [{"file": name, "faces": [face.to_dict() for face in results]} for name, results in processed]
        report += [{"file": name, "error": message} for name, message in failures]
        print(json.dumps(report, indent=2))
    faces = sum(len(results) for _, results in processed)
    print(f"{len(processed)} image(s), {faces} face(s)" + (f"; results in {out}" if out else ""), file=sys.stderr)
    if failures:
        print(f"fer-video image: {len(failures)} input(s) failed:", file=sys.stderr)
        for _, message in failures:
            print(f"  {message}", file=sys.stderr)
        return 1
    return 0
