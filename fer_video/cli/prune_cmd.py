"""``fer-video prune``: narrow a trained VGG-style CNN into a smaller architecture, as a warm start."""

from __future__ import annotations

import argparse
import sys

from fer_video.cli.options import add_data_option, new_checkpoint_path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "prune",
        help="prune a trained VGG-style CNN into a narrower one (the warm start of a fine-tune)",
        description="Keep, in every layer of --weights, the channels most active on FER2013 Training "
        "images, and write them as a checkpoint of the narrower registered architecture --to (same depth, "
        "each layer at most as wide). Fine-tune it with `init_from` in a training config, distilled from "
        "--weights; score it with `fer-video evaluate --weights OUT`.",
    )
    parser.add_argument("--weights", required=True, help="the trained CNN checkpoint to prune (.pt)")
    parser.add_argument("--to", required=True, help="registered architecture to prune into, e.g. vgg_fer_small")
    parser.add_argument("--out", required=True, help="checkpoint to write (.pt)")
    add_data_option(parser)
    parser.add_argument(
        "--images", type=int, default=2048, help="Training images the channel activity is measured on (default: 2048)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the image sample (default: 0)")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fer_video.train.prune import prune_checkpoint

    if args.images < 1:
        raise ValueError(f"--images must be at least 1, got {args.images}")
    out = new_checkpoint_path(args.out, args.weights, args.overwrite)
    prune_checkpoint(args.weights, args.to, out, args.data, args.images, args.seed)
    print(f"wrote {out}: {args.to} pruned from {args.weights}", file=sys.stderr)
    return 0
