"""Int8 throughput of VGG-style CNN widths before training any of them: which narrower `vgg_fer` is fast enough?

Each variant is built with random weights (BatchNorm statistics drawn at random too), exported to ONNX,
quantized as ``--backend onnx-int8`` does (activation ranges from FER2013 Training crops) and timed as a raw
ONNX Runtime session at batch 64 (no preprocessing), best of ``--repeats`` runs. Speed does not depend on the
weights' values, so this ranks architectures before any is trained. Each variant's multiply-adds per
second are set beside ONNX Runtime's own int8 matrix product (``MatMulInteger``, 2048 x 2048 x 2048) on the
same threads: where the variants reach it, a faster CNN has to do less work, not run it better. Writes
bench_widths.json and bench_widths.md to ``--out``.

    python scripts/bench_widths.py --out results/emotion_cnn_lean_pruned --overwrite
"""

from __future__ import annotations

import argparse
import datetime
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from bench_image import machine, repeat_for
from tqdm import tqdm

from fer_video.backends.cpu import cpu_flags, int8_dot_product_flags
from fer_video.backends.session import open_session
from fer_video.evaluate.outputs import check_overwrite_or_exit, write_report
from fer_video.export.onnx import export_classifier
from fer_video.export.quantize import quantize_classifier, training_calibration_crops
from fer_video.models.vgg import VGGFer
from fer_video.provenance import source_revision

#: (widths, embedding) of vgg_fer, the narrower variants tried, and vgg_fer_mid.
DEFAULT_VARIANTS = (
    "64-128-256-512", "48-128-256-512", "32-128-256-512", "32-96-256-512", "32-64-256-512", "48-96-192-384"
)
INPUT_SIZE = 48
BATCH = 64


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--widths", nargs="+", default=list(DEFAULT_VARIANTS),
        help="stage widths, dash-separated (the embedding is as wide as the last stage)",
    )
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each timed run")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per variant; the best is kept")
    parser.add_argument(
        "--calibration-crops", type=int, default=256, help="Training crops for the int8 activation ranges"
    )
    parser.add_argument("--out", default="results", help="folder for bench_widths.json and bench_widths.md")
    parser.add_argument("--overwrite", action="store_true")
    return parser


def parse_widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(part) for part in text.split("-"))
    except ValueError:
        raise SystemExit(f"error: widths must be dash-separated integers such as 32-96-256-512, not {text!r}") from None
    if len(widths) != 4 or min(widths) < 1:
        raise SystemExit(f"error: give four positive stage widths (48 px input, four stages), not {text!r}")
    return widths


def multiply_adds(widths: tuple[int, ...], convs_per_stage: int = 2) -> int:
    """Multiply-adds of one crop through the convolutions and the embedding layer (BN, ReLU, pooling aside)."""
    total, side, chans = 0, INPUT_SIZE, 1
    for width in widths:
        for _ in range(convs_per_stage):
            total += side * side * 9 * chans * width
            chans = width
        side //= 2
    return total + chans * side * side * widths[-1]


def random_model(widths: tuple[int, ...]) -> VGGFer:
    model = VGGFer(widths=widths, embed_dim=widths[-1]).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so that quantization sees realistic ranges
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_var.uniform_(0.5, 2.0)
    return model


def int8_throughput(model: VGGFer, calibration: np.ndarray, args: argparse.Namespace) -> float:
    """Best crops/s of the int8 graph at batch 64 over ``args.repeats`` runs of ``args.seconds`` (each after a
    warm-up run)."""
    meta = {"model": "vgg_fer_variant", "classes": [str(i) for i in range(7)],
            "preprocess": {"input_size": INPUT_SIZE, "mean": 0.5, "std": 0.25}}
    batch = np.random.default_rng(0).normal(size=(BATCH, 1, INPUT_SIZE, INPUT_SIZE)).astype(np.float32)
    with tempfile.TemporaryDirectory() as scratch:
        fp32, int8 = Path(scratch) / "fp32.onnx", Path(scratch) / "int8.onnx"
        export_classifier(model, meta, fp32)
        quantize_classifier(fp32, int8, calibration)
        session, _ = open_session(int8, "classifier", threads=args.threads)
        feed = {session.get_inputs()[0].name: batch}
        runs = [repeat_for(args.seconds, lambda: session.run(None, feed)) for _ in range(args.repeats)]
    return max(calls * BATCH / wall for calls, wall, _ in runs)


def int8_gemm_rate(args: argparse.Namespace, size: int = 2048) -> float:
    """Best multiply-adds/s of ONNX Runtime's uint8 x int8 matrix product (``size`` cubed) over
    ``args.repeats`` runs of ``args.seconds``."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(0)
    weights = rng.integers(-127, 128, (size, size), dtype=np.int8)
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["A", "B"], ["Y"])], "int8_gemm",
        [helper.make_tensor_value_info("A", TensorProto.UINT8, [size, size])],
        [helper.make_tensor_value_info("Y", TensorProto.INT32, [size, size])],
        initializer=[helper.make_tensor("B", TensorProto.INT8, [size, size], weights.tobytes(), raw=True)],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    feed = {"A": rng.integers(0, 256, (size, size), dtype=np.uint8)}
    runs = [repeat_for(args.seconds, lambda: session.run(None, feed)) for _ in range(args.repeats)]
    return max(calls * size**3 / wall for calls, wall, _ in runs)


def main(args: argparse.Namespace) -> None:
    out = Path(args.out)
    targets = [out / "bench_widths.json", out / "bench_widths.md"]
    check_overwrite_or_exit(targets, args.overwrite)
    variants = [parse_widths(text) for text in args.widths]
    torch.manual_seed(0)
    context = {**machine(), "date": datetime.datetime.now().isoformat(timespec="seconds"), "commit": source_revision(),
               "int8_dot_product": list(int8_dot_product_flags(cpu_flags())), "threads": args.threads, "batch": BATCH}
    calibration = training_calibration_crops(count=args.calibration_crops)
    rows = []
    for widths in tqdm(variants, desc="widths", unit="variant"):
        crops_per_s = int8_throughput(random_model(widths), calibration, args)
        rows.append({"widths": "-".join(map(str, widths)), "multiply_adds": multiply_adds(widths),
                     "int8_crops_per_s": crops_per_s, "multiply_adds_per_s": crops_per_s * multiply_adds(widths)})
    gemm = int8_gemm_rate(args)
    out.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Int8 throughput of VGG widths (random weights)", "",
        f"{context['date']}, commit {context['commit']}, on {context['hardware']}; int8 dot-product instructions: "
        f"{', '.join(context['int8_dot_product']) or 'none'}. Raw ONNX Runtime session (no preprocessing), batch {BATCH}, "
        f"{args.threads} threads, best of {args.repeats} runs of {args.seconds:g} s. 1-minute load average at start "
        f"{context['load_average_1min_at_start']:.2f}.", "",
        "| widths | multiply-adds per crop | int8 crops/s | multiply-adds/s (share of the int8 matrix product's) |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {row['widths']} | {row['multiply_adds'] / 1e6:.0f} M | {row['int8_crops_per_s']:,.0f} | "
        f"{row['multiply_adds_per_s'] / 1e9:.0f} G ({row['multiply_adds_per_s'] / gemm:.0%}) |"
        for row in rows
    ]
    lines += [
        "", f"ONNX Runtime's int8 matrix product (MatMulInteger, 2048 x 2048 x 2048, {args.threads} threads): "
        f"{gemm / 1e9:.0f} G multiply-adds/s: at that rate, 1,000 crops/s allows at most {gemm / 1e9:.0f} M "
        "multiply-adds per crop.", "",
        f"Rerun: `python scripts/bench_widths.py --out DIR --overwrite --widths {' '.join(row['widths'] for row in rows)}`.",
    ]  # fmt: skip
    markdown = "\n".join(lines) + "\n"
    write_report(targets[0], targets[1], {"context": context, "rows": rows, "int8_gemm_multiply_adds_per_s": gemm}, markdown)
    print(markdown, end="")


if __name__ == "__main__":
    main(get_args_parser().parse_args())
