"""``fer-video calibrate``: fit a CNN checkpoint's softmax temperature so its confidence is calibrated."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from fer_video.cli.options import add_data_option, add_model_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "calibrate",
        help="fit the CNN's softmax temperature (calibrated confidence) and record its int8 accuracy",
        description="Fit one temperature T on FER2013 PublicTest so that softmax(logits / T) "
        "is calibrated, and write a copy of the checkpoint with meta['temperature'] = T, which every backend "
        "applies; its int8 accuracy on PublicTest is recorded too (read by --backend auto). Weights are copied "
        "unchanged. A report (calibration.json, report.md, reliability.png) goes to --report.",
    )
    add_model_option(parser, "the shipped model to calibrate")
    parser.add_argument("--weights", help="checkpoint to calibrate (default: the --model's CNN in models/)")
    parser.add_argument(
        "--out", required=True, help="calibrated checkpoint to write (.pt; may be --weights with --overwrite)"
    )
    add_data_option(parser)
    parser.add_argument("--report", help="folder for the report (default: results/calibration/<--out stem>)")
    parser.add_argument("--overwrite", action="store_true", help="replace --out and the report files if they exist")
    parser.add_argument("--no-int8", action="store_true", help="do not measure (nor record) the int8 accuracy")
    parser.add_argument(
        "--retarget-gru",
        metavar="GRU",
        help="also point this temporal GRU, trained on --weights, at --out (in place, weights unchanged; "
        "meta['cnn_retarget'] keeps the original CNN's sha256), until it is retrained",
    )
    parser.add_argument("--batch-size", type=int, default=256, help="images per forward pass (default: 256)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda[:N] | auto (default: cpu)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fer_video.backends import onnxruntime_available
    from fer_video.checkpoint import file_sha256
    from fer_video.evaluate.calibrate import calibrate_checkpoint, gru_cnn_sha256, retarget_gru
    from fer_video.pretrained import default_cnn_path

    weights = Path(args.weights) if args.weights else default_cnn_path(args.model)
    out = Path(args.out)
    if out.suffix.lower() != ".pt":
        raise ValueError(f"--out must end in .pt, got {out}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    measure_int8 = not args.no_int8
    if measure_int8 and not onnxruntime_available():
        raise ValueError("measuring the int8 accuracy needs ONNX Runtime: pip install onnxruntime onnx (or --no-int8)")
    gru = Path(args.retarget_gru) if args.retarget_gru else None
    trained_on = ""
    if gru is not None:  # checked before the work, not after it
        trained_on = file_sha256(weights) if weights.is_file() else ""
        if gru_cnn_sha256(gru) != trained_on:
            raise ValueError(f"{gru} was not trained on {weights} (its cnn_sha256 differs): retrain it instead")
    result = calibrate_checkpoint(
        weights,
        out,
        data_path=args.data,
        report_dir=args.report,
        overwrite=args.overwrite,
        device=args.device,
        batch_size=args.batch_size,
        measure_int8=measure_int8,
        command=_command(args, weights),
    )
    record, int8 = result["calibration"], result["int8_accuracy"]
    print(
        f"{record['split']} ({record['n_images']} images): T = {record['temperature']:.4f}; "
        f"NLL {record['nll_before']:.4f} -> {record['nll_after']:.4f}, "
        f"ECE {record['ece_before']:.4f} -> {record['ece_after']:.4f}; held-out halves: ECE "
        + ", ".join(f"{fold['ece_before']:.4f} -> {fold['ece_after']:.4f}" for fold in record["split_half"])
    )
    if int8:
        print(
            f"int8 accuracy {int8['int8']:.4f} vs fp32 {int8['fp32']:.4f} "
            f"(top-1 agreement {int8['top1_agreement']:.4f})"
        )
    print(f"wrote {out}; report in {result['report_dir']}", file=sys.stderr)
    if gru is not None:
        new_sha = retarget_gru(gru, trained_on, out)
        print(f"pointed {gru} at {out} (cnn_sha256 {new_sha[:16]}...); retrain it with fer-video train-temporal")
    return 0


def _command(args: argparse.Namespace, weights: Path) -> str:
    """The command line that reproduces this run (for the report)."""
    words = ["fer-video", "calibrate", "--weights", str(weights), "--out", args.out]
    for flag, value in (("--data", args.data), ("--report", args.report), ("--retarget-gru", args.retarget_gru)):
        if value:
            words += [flag, value]
    words += ["--no-int8"] if args.no_int8 else []
    words += ["--overwrite"] if args.overwrite else []
    return shlex.join(words)
