"""``fer-video train``: run a training recipe from a YAML config.

Several processes (CPU or one per GPU) train one model when started by torchrun:
``torchrun --nproc_per_node N -m fer_video.cli train --config ...`` (see :mod:`fer_video.train.distributed`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fer_video.cli.options import add_data_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train a classifier from a YAML recipe")
    parser.add_argument("--config", required=True, help="YAML recipe, e.g. configs/cpu_small.yaml")
    add_data_option(parser)
    parser.add_argument("--out", help="run folder (default: runs/<config name>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--epochs", type=int, help="override the config's number of epochs")
    parser.add_argument("--init-from", help="start from this checkpoint's weights (overrides the config's init_from)")
    parser.add_argument(
        "--teacher", nargs="+", help="distil from this checkpoint, or the mean of several (overrides the config's teacher)"
    )
    parser.add_argument(
        "--real-clips",
        metavar="LABELS_CSV",
        help="also score every epoch on the detector crops of these labelled real clips (file,label CSV); "
        "overrides the config's real_clips, '' turns it off",
    )
    parser.add_argument(
        "--device",
        default="auto",
        help="auto | cpu | cuda[:N] (under torchrun: auto | cpu | cuda, rank r on cuda:LOCAL_RANK)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fer_video.data import require_fer2013_path
    from fer_video.train import TrainConfig, fit
    from fer_video.train.distributed import context_from_env

    config = TrainConfig.from_yaml(args.config)
    if args.epochs:
        config = config.with_overrides(epochs=args.epochs)
    if args.init_from:
        config = config.with_overrides(init_from=args.init_from)
    if args.teacher:
        config = config.with_overrides(teacher=args.teacher)
    if args.real_clips is not None:
        config = config.with_overrides(real_clips=args.real_clips)
    data = require_fer2013_path(args.data)
    out = Path(args.out or Path("runs") / config.name)
    result = fit(config, data, out, resume=args.resume, device=args.device)
    if context_from_env().is_main:
        print(json.dumps(result, indent=2))
    return 0
