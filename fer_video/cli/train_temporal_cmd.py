"""``fer-video train-temporal``: simulate clips, run the CNN, train the temporal GRU."""

from __future__ import annotations

import argparse
import json

from fer_video.cli.options import add_data_option, add_model_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train-temporal", help="train the temporal GRU on clips simulated from FER2013 stills (and real video traces)"
    )
    parser.add_argument("--config", required=True, help="YAML recipe, e.g. configs/temporal.yaml")
    add_data_option(parser)
    add_model_option(parser, "the shipped model whose GRU is trained (its CNN's embeddings, its GRU file)")
    parser.add_argument("--cnn", help="CNN weights whose embeddings the GRU reads (default: the --model's CNN)")
    parser.add_argument("--out", help="where to write the GRU (default: the --model's GRU file in models/)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--device", default="auto", help="device for the CNN: auto | cpu | cuda[:N]")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fer_video.data import require_fer2013_path
    from fer_video.pretrained import default_cnn_path, default_gru_path
    from fer_video.temporal.config import TemporalConfig
    from fer_video.temporal.train import train_temporal

    config = TemporalConfig.from_yaml(args.config)
    data = require_fer2013_path(args.data)
    out = args.out or default_gru_path(args.model)
    cnn = args.cnn or default_cnn_path(args.model)
    result = train_temporal(config, data, out, cnn, device=args.device, overwrite=args.overwrite, model=args.model)
    print(json.dumps(result, indent=2))
    return 0
