"""``fer-video recalibrate-bn``: recompute a checkpoint's BatchNorm statistics on clean training images."""

from __future__ import annotations

import argparse
import sys

from fer_video.cli.options import add_data_option, new_checkpoint_path
from fer_video.constants import SPLITS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "recalibrate-bn",
        help="recompute a trained CNN's BatchNorm statistics on FER2013 Training images (precise BN)",
        description="Set every BatchNorm layer's running mean and variance to the mean of its batch "
        "statistics over one pass through a FER2013 split (default: training) under the evaluation "
        "preprocessing, with the checkpoint's final (EMA) weights, and write the result as a new "
        "checkpoint. Weights and labels are not used or changed. Score it with "
        "`fer-video evaluate --weights OUT`; ship it with `fer-video export --format pt-fp16`.",
    )
    parser.add_argument("--weights", required=True, help="checkpoint to recalibrate (a run's best.pt or last.pt)")
    parser.add_argument("--out", required=True, help="checkpoint to write (.pt)")
    add_data_option(parser)
    parser.add_argument(
        "--split", default="training", choices=SPLITS, help="split whose images give the statistics (default: training)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.add_argument("--batch-size", type=int, default=256, help="images per forward pass (default: 256)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random batch order (default: 0)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fer_video.train.precise_bn import recalibrate_checkpoint

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    out = new_checkpoint_path(args.out, args.weights, args.overwrite)
    payload = recalibrate_checkpoint(
        args.weights, out, args.data, args.split, args.batch_size, args.device, args.seed
    )
    record = payload["meta"]["bn_recalibration"]
    print(f"wrote {out}: BatchNorm statistics from {record['images']} {record['split']} images", file=sys.stderr)
    return 0
