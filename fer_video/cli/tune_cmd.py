"""``fer-video tune``: Optuna search over a config's ``search_space`` with short, pruned trials."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from fer_video.cli.options import add_data_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("tune", help="search hyperparameters of a YAML recipe with Optuna")
    parser.add_argument("--config", required=True, help="YAML recipe with a search_space, e.g. configs/tune_tiny.yaml")
    parser.add_argument("--trials", type=int, required=True, help="number of trials")
    parser.add_argument("--epochs-per-trial", type=int, default=2, help="epochs per trial (default: 2)")
    parser.add_argument(
        "--max-train-samples", type=int, default=0, help="Training images per trial (default: the config's; 0 = all)"
    )
    add_data_option(parser)
    parser.add_argument("--out", help="output folder (default: results/tune_<config name>)")
    parser.add_argument("--overwrite", action="store_true", help="replace the results of an earlier study in --out")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fer_video.data import require_fer2013_path
    from fer_video.train import TrainConfig
    from fer_video.tune import run_study

    config = TrainConfig.from_yaml(args.config)
    data = require_fer2013_path(args.data)
    out = Path(args.out or Path("results") / f"tune_{config.name}")
    study = run_study(
        config,
        data,
        out,
        trials=args.trials,
        epochs_per_trial=args.epochs_per_trial,
        max_train_samples=args.max_train_samples,
        device=args.device,
        overwrite=args.overwrite,
        command=_command_line(args, data, out),
    )
    if any(t.state.name == "COMPLETE" for t in study.trials):
        print(f"best trial {study.best_trial.number}: PublicTest acc {study.best_value:.4f}, {study.best_params}")
    print(f"wrote {out}/trials.csv, tune_results.png, README.md")
    return 0


def _command_line(args: argparse.Namespace, data: Path, out: Path) -> str:
    """The command that reruns this study (for the study's README)."""
    words = ["fer-video", "tune", "--config", args.config, "--trials", str(args.trials)]
    words += ["--epochs-per-trial", str(args.epochs_per_trial), "--data", str(data), "--out", str(out)]
    if args.max_train_samples:
        words += ["--max-train-samples", str(args.max_train_samples)]
    return shlex.join(words)
