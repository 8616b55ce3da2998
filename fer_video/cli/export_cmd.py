"""``fer-video export``: write the emotion CNN (fp32 or int8) or the temporal GRU's step as an ONNX file,
or a training checkpoint as the compact float16 ``.pt`` file that ships in ``models/``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from fer_video.cli.options import add_model_option

if TYPE_CHECKING:
    from fer_video.classifier import CropClassifier

FORMATS = ("onnx", "onnx-int8", "pt-fp16")
PARTS = ("cnn", "gru")
#: Random crops the exported CNN is checked on against PyTorch.
CHECK_CROPS = 32


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export the emotion CNN or the temporal GRU to ONNX, or a checkpoint as a float16 .pt",
        description="Write an ONNX file (dynamic batch, fer-video metadata inside) that ONNX Runtime runs without "
        "PyTorch; `--weights FILE.onnx` of the image, video and app commands accepts the CNN export. "
        "onnx-int8 quantizes the CNN (static, calibrated on FER2013 Training crops). pt-fp16 writes the CNN "
        "checkpoint with float16 weights (half the size; loaded back into float32), as shipped in models/.",
    )
    parser.add_argument(
        "--format", choices=FORMATS, default="onnx", help="onnx (fp32), onnx-int8 or pt-fp16 (default: onnx)"
    )
    parser.add_argument("--part", choices=PARTS, default="cnn", help="cnn, or gru (its one-frame step) (default: cnn)")
    add_model_option(parser, "the shipped model to export")
    parser.add_argument("--weights", help="checkpoint to export (default: the --model's CNN or GRU file)")
    parser.add_argument("--out", required=True, help="file to write (.onnx; .pt for pt-fp16)")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.add_argument("--calibration-data", help="FER2013 file for onnx-int8 (default: $FER2013_PATH or ../shared)")
    parser.add_argument(
        "--calibration-crops", type=int, default=1024, help="Training crops calibrated on (default 1024)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fer_video.backends import onnxruntime_available
    from fer_video.evaluate.outputs import check_overwrite
    from fer_video.pretrained import default_cnn_path, default_gru_path

    out = Path(args.out)
    suffix = ".pt" if args.format == "pt-fp16" else ".onnx"
    if out.suffix.lower() != suffix:
        raise ValueError(f"--out must end in {suffix} for --format {args.format}, got {out}")
    if args.part == "gru" and args.format != "onnx":
        raise ValueError("the GRU exports to ONNX only: use --format onnx with --part gru")
    if args.calibration_crops < 1:
        raise ValueError(f"--calibration-crops must be at least 1, got {args.calibration_crops}")
    check_overwrite([out], args.overwrite)
    if args.format == "pt-fp16":
        _export_release(args.weights or default_cnn_path(args.model), out)
    elif not onnxruntime_available():
        raise ValueError("exporting needs ONNX and ONNX Runtime: pip install onnxruntime onnx")
    elif args.part == "gru":
        _export_gru(args.weights or default_gru_path(args.model), out, args.model)
    else:
        source = args.weights or default_cnn_path(args.model)
        _export_cnn(source, out, args.format == "onnx-int8", args.calibration_data, args.calibration_crops)
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB)", file=sys.stderr)
    return 0


def _export_cnn(
    weights: str | Path, out: Path, int8: bool, calibration_data: str | None, calibration_crops: int
) -> None:
    import tempfile

    from fer_video.classifier import CropClassifier
    from fer_video.export import export_classifier
    from fer_video.export.quantize import quantize_classifier, training_calibration_crops
    from fer_video.checkpoint import file_sha256

    source = Path(weights)
    reference = CropClassifier.from_file(source, device="cpu", backend="torch")
    sha = file_sha256(source)
    if int8:
        crops = training_calibration_crops(calibration_data, calibration_crops)
        with tempfile.TemporaryDirectory() as scratch:
            fp32 = export_classifier(reference.model, reference.meta, Path(scratch) / "fp32.onnx", sha)
            quantize_classifier(fp32, out, crops)
    else:
        export_classifier(reference.model, reference.meta, out, sha)
    backend = "onnx-int8" if int8 else "onnx"
    _report_agreement(reference, CropClassifier.from_file(out, device="cpu", backend=backend), backend, "torch")


def _export_release(weights: str | Path, out: Path) -> None:
    from fer_video.classifier import CropClassifier
    from fer_video.export.release import save_release_checkpoint

    reference = CropClassifier.from_file(weights, device="cpu", backend="torch")
    save_release_checkpoint(weights, out)
    _report_agreement(reference, CropClassifier.from_file(out, device="cpu", backend="torch"), "fp16", "fp32")


def _report_agreement(reference: CropClassifier, exported: CropClassifier, name: str, reference_name: str) -> None:
    """Print how closely ``exported`` reproduces ``reference`` on random crops."""
    import numpy as np

    size = reference.preprocess.input_size
    crops = np.random.default_rng(0).integers(0, 256, (CHECK_CROPS, size, size), dtype=np.uint8)
    expected, got = reference.predict_proba(crops), exported.predict_proba(crops)
    agree = float((expected.argmax(1) == got.argmax(1)).mean())
    largest = np.abs(expected - got).max()
    print(
        f"check on {CHECK_CROPS} random crops: max |p_{name} - p_{reference_name}| = {largest:.2g}, "
        f"top-1 agreement {agree:.0%}",
        file=sys.stderr,
    )


def _export_gru(weights: str | Path, out: Path, model: str) -> None:
    """Export the GRU step; ``model``'s CNN is the one the GRU's sha256 check compares against."""
    from fer_video.backends.gru import OnnxGruStep
    from fer_video.export import export_gru_step
    from fer_video.checkpoint import file_sha256
    from fer_video.temporal.model import load_gru

    source = Path(weights)
    export_gru_step(load_gru(source, device="cpu", model=model), out, file_sha256(source))
    OnnxGruStep(out)  # fails here, with a clear message, if ONNX Runtime cannot run it
