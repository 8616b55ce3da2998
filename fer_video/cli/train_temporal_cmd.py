"""``fer-video train-temporal``: simulate clips, run the CNN, train the temporal GRU."""

from __future__ import annotations

import argparse
import json

from fer_video.cli.options import add_data_option
from fer_video.data import require_fer2013_path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train-temporal", help="train the temporal GRU on clips simulated from FER2013 stills"
    )
    parser.add_argument("--config", required=True, help="YAML recipe, e.g. configs/temporal.yaml")
    add_data_option(parser)
    parser.add_argument("--cnn", help="CNN weights whose embeddings the GRU reads (default: models/emotion_cnn.pt)")
    parser.add_argument("--out", help="where to write the GRU (default: models/emotion_gru.pt)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--device", default="auto", help="device for the CNN: auto | cpu | cuda[:N]")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fer_video.temporal.config import TemporalConfig
    from fer_video.temporal.train import train_temporal

    config = TemporalConfig.from_yaml(args.config)
    data = require_fer2013_path(args.data)
    result = train_temporal(config, data, args.out, args.cnn, device=args.device, overwrite=args.overwrite)
    print(json.dumps(result, indent=2))
    return 0
