"""``fer-video train``: run a training recipe from a YAML config."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fer_video.data import require_fer2013_path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train a classifier from a YAML recipe")
    parser.add_argument("--config", required=True, help="YAML recipe, e.g. configs/cpu_small.yaml")
    parser.add_argument("--data", help="FER2013 folder, zip or csv (default: $FER2013_PATH or ../shared/data/fer2013.zip)")
    parser.add_argument("--out", help="run folder (default: runs/<config name>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--epochs", type=int, help="override the config's number of epochs")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fer_video.train import TrainConfig, fit

    config = TrainConfig.from_yaml(args.config)
    if args.epochs:
        config = config.with_overrides(epochs=args.epochs)
    data = require_fer2013_path(args.data)
    out = Path(args.out or Path("runs") / config.name)
    result = fit(config, data, out, resume=args.resume, device=args.device)
    print(json.dumps(result, indent=2))
    return 0
