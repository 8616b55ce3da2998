"""``fer-video eval-temporal``: compare none / ema / gru smoothing on held-out simulated clips."""

from __future__ import annotations

import argparse
import json

from fer_video.cli.options import add_data_option, add_model_option
from fer_video.pretrained import DEFAULT_MODEL


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval-temporal",
        help="score none / ema / gru smoothing on clips simulated from PublicTest; (re)writes the report",
    )
    parser.add_argument("--config", required=True, help="YAML recipe, e.g. configs/temporal.yaml")
    add_data_option(parser)
    add_model_option(parser, "the shipped model (CNN and GRU) to score")
    parser.add_argument("--cnn", help="CNN weights (default: the --model's CNN)")
    parser.add_argument("--gru", help="GRU weights (default: the --model's GRU)")
    parser.add_argument(
        "--out",
        help="report folder, regenerated on each run (default: the config's results_dir; with --model fast, "
        "results_dir + '_fast')",
    )
    parser.add_argument("--device", default="auto", help="device for the CNN: auto | cpu | cuda[:N]")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fer_video.data import require_fer2013_path
    from fer_video.pretrained import default_cnn_path, default_gru_path
    from fer_video.temporal.config import TemporalConfig
    from fer_video.temporal.evaluate import evaluate_temporal

    config = TemporalConfig.from_yaml(args.config)
    data = require_fer2013_path(args.data)
    out = args.out or (None if args.model == DEFAULT_MODEL else f"{config.results_dir}_{args.model}")
    gru, cnn = args.gru or default_gru_path(args.model), args.cnn or default_cnn_path(args.model)
    result = evaluate_temporal(config, data, gru, cnn, out, device=args.device)
    print(result["table"].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(json.dumps({"bar": result["bar"], "timings_s": result["timings_s"], "written": result["written"]}, indent=2))
    return 0
