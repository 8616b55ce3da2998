"""``fer-video eval-crops``: score CNN checkpoints on the face crops of labelled real video clips."""

from __future__ import annotations

import argparse

from fer_video.cli.options import add_model_option

DEFAULT_LABELS = "../shared/data/real_video/labels.csv"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval-crops",
        help="frame and clip accuracy of CNN checkpoints on labelled real clips (face crops cut once and cached)",
    )
    add_model_option(parser, "the shipped model to score when no --weights are given")
    parser.add_argument("--weights", nargs="+", default=[], help="checkpoint(s) to score (.pt or .onnx)")
    parser.add_argument(
        "--labels", default=DEFAULT_LABELS, help=f"CSV with columns file,label (default: {DEFAULT_LABELS})"
    )
    parser.add_argument(
        "--fps", type=float, default=10.0, help="frames analysed per second, 0 = every frame (default: 10)"
    )
    parser.add_argument(
        "--margin",
        type=float,
        help="context kept around each face, a fraction of the detector box's longer side per side; negative crops "
        "tighter (default: the recognizer's, fer_video.faces.DEFAULT_MARGIN)",
    )
    parser.add_argument(
        "--tta", default="none", choices=("none", "flip"), help="test-time augmentation (default: none)"
    )
    parser.add_argument("--per-clip", action="store_true", help="also print one table per checkpoint, a row per clip")
    parser.add_argument("--out", help="write the scores as JSON to this file")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.add_argument("--device", default="cpu", help="cpu | cuda[:N] (default: cpu)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict
    from pathlib import Path

    from fer_video.cli import UserError
    from fer_video.evaluate.clip_crops import CropSettings, clip_crops, clips_markdown, score_crops, summary_markdown
    from fer_video.evaluate.outputs import check_overwrite, write_text_atomic
    from fer_video.pretrained import default_cnn_path

    if args.fps < 0:
        raise UserError(f"--fps must be 0 (every frame) or more, got {args.fps}")
    if args.margin is not None and not -0.5 < args.margin <= 1.0:
        raise UserError(f"--margin must be above -0.5 and at most 1, got {args.margin}")
    if args.out:
        check_overwrite([Path(args.out)], args.overwrite)
    weights = args.weights or [str(default_cnn_path(args.model))]
    crops = clip_crops(args.labels, CropSettings(fps=args.fps, margin=args.margin), device=args.device, progress=True)
    print(f"{len(crops.crops)} face crops from {len(crops.files)} clips (cache: {crops.cache_path})")
    scores = {path: score_crops(crops, path, device=args.device, flip_tta=args.tta == "flip") for path in weights}
    print(summary_markdown(scores))
    if args.per_clip:
        for path, result in scores.items():
            print(f"{path}:\n{clips_markdown(result)}")
    if args.out:
        document = {
            "labels": args.labels,
            "settings": asdict(crops.settings),
            "tta": args.tta,
            "scores": {path: {"summary": r.summary, "clips": r.clips} for path, r in scores.items()},
        }
        write_text_atomic(args.out, json.dumps(document, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0
