"""``fer-video evaluate``: score a checkpoint on a FER2013 split and write a report."""

from __future__ import annotations

import argparse

from fer_video.cli.options import add_data_option, add_model_option
from fer_video.constants import SPLITS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("evaluate", help="accuracy, F1, confusion matrix and report for a checkpoint")
    add_model_option(parser, "the shipped model to score")
    parser.add_argument("--weights", help="checkpoint to score (default: the --model's CNN in models/)")
    add_data_option(parser)
    parser.add_argument("--split", default="publictest", choices=SPLITS, help="split to score (default: publictest)")
    parser.add_argument(
        "--tta", default="none", choices=("none", "flip", "tencrop"), help="test-time augmentation (default: none)"
    )
    parser.add_argument("--out", help="output folder (default: results/<weights file stem>)")
    parser.add_argument(
        "--log",
        nargs="+",
        default=[],
        help="a run's log.csv, to add training curves to the report (several: a run, then its fine-tuning runs)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace files in an existing output folder")
    parser.add_argument("--batch-size", type=int, default=256, help="images per forward pass (default: 256)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fer_video.evaluate import evaluate_checkpoint
    from fer_video.pretrained import default_cnn_path

    result = evaluate_checkpoint(
        weights=args.weights or default_cnn_path(args.model),
        data_path=args.data,
        split=args.split,
        tta=args.tta,
        out_dir=args.out,
        device=args.device,
        logs=args.log,
        overwrite=args.overwrite,
        batch_size=args.batch_size,
    )
    metrics, subset = result["metrics"], result["subset_3class"]
    print(
        f"{result['split']} ({metrics['n_images']} images, tta={result['tta']}): "
        f"accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}, "
        f"weighted-F1 {metrics['weighted_f1']:.4f}; happy/sad/neutral subset: accuracy {subset['accuracy']:.4f}, "
        f"macro-F1 {subset['macro_f1']:.4f}"
    )
    print(f"wrote {result['out_dir']}/metrics.json, report.md and figures")
    return 0
