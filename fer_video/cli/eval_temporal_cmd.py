"""``fer-video eval-temporal``: compare none / ema / gru smoothing on held-out simulated clips."""

from __future__ import annotations

import argparse
import json

from fer_video.cli.options import add_data_option
from fer_video.data import require_fer2013_path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval-temporal",
        help="score none / ema / gru smoothing on clips simulated from PublicTest; (re)writes the report",
    )
    parser.add_argument("--config", required=True, help="YAML recipe, e.g. configs/temporal.yaml")
    add_data_option(parser)
    parser.add_argument("--cnn", help="CNN weights (default: models/emotion_cnn.pt)")
    parser.add_argument("--gru", help="GRU weights (default: models/emotion_gru.pt)")
    parser.add_argument("--out", help="report folder, regenerated on each run (default: the config's results_dir)")
    parser.add_argument("--device", default="auto", help="device for the CNN: auto | cpu | cuda[:N]")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fer_video.temporal.config import TemporalConfig
    from fer_video.temporal.evaluate import evaluate_temporal

    config = TemporalConfig.from_yaml(args.config)
    data = require_fer2013_path(args.data)
    result = evaluate_temporal(config, data, args.gru, args.cnn, args.out, device=args.device)
    print(result["table"].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(json.dumps({"bar": result["bar"], "timings_s": result["timings_s"], "written": result["written"]}, indent=2))
    return 0
