"""Benchmark the emotion CNNs' backends on face crops: PyTorch vs ONNX Runtime (fp32, int8).

For each shipped model (standard, fast) and each backend: crops/s through
``CropClassifier.predict`` (preprocessing included) at batch 1 and batch 64, PublicTest accuracy and
the largest probability difference from PyTorch on the same real crops; what ``--backend auto``
picks on this machine and why; and the temporal GRU's per-frame step (PyTorch vs ONNX Runtime) in
updates/s. The CPU is named with its instruction-set features (int8 dot product or not).
Targets on 2 CPU cores, batch 64, ``--backend auto``: >= 1,000 crops/s for standard, >= 4,000 for
fast, each within 0.3 PublicTest points of its fp32 accuracy.
Writes results/bench_crops.json and results/bench_crops.md.

    python scripts/bench_crops.py --threads 2 --overwrite
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from bench_image import machine, repeat_for

from fer_video.backends import OnnxBackend
from fer_video.backends.cpu import cpu_flags, int8_dot_product_flags
from fer_video.backends.gru import OnnxGruStep
from fer_video.classifier import CropClassifier
from fer_video.data import FaceArrays, load_fer2013, resolve_fer2013_path
from fer_video.evaluate.outputs import check_overwrite_or_exit, write_report
from fer_video.pretrained import SHIPPED_MODELS, default_cnn_path, default_gru_path
from fer_video.provenance import source_revision
from fer_video.temporal import load_gru, make_smoother

#: crops/s at batch 64 on 2 CPU cores that each model's default path (``--backend auto``) must reach ...
TARGETS = {"standard": 1000.0, "fast": 4000.0}
#: ... within this PublicTest accuracy of its fp32 graph.
MAX_ACCURACY_LOSS = 0.003
BATCHES = (1, 64)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models", nargs="+", default=list(SHIPPED_MODELS), choices=list(SHIPPED_MODELS), help="shipped CNNs"
    )
    parser.add_argument("--weights", help="benchmark this CNN checkpoint instead of the shipped ones")
    parser.add_argument("--gru-weights", help="temporal GRU checkpoint (default: the shipped model)")
    parser.add_argument(
        "--backends", nargs="+", default=["torch", "onnx", "onnx-int8", "auto"], help="backends to compare"
    )
    parser.add_argument("--threads", type=int, default=2, help="PyTorch threads and ONNX Runtime intra-op threads")
    parser.add_argument("--seconds", type=float, default=5.0, help="time spent on each throughput measurement")
    parser.add_argument("--accuracy-crops", type=int, default=0, help="PublicTest crops scored (default 0: all)")
    parser.add_argument("--out", default="results", help="folder for bench_crops.json and bench_crops.md")
    parser.add_argument("--overwrite", action="store_true")
    return parser


def throughput(classifier: CropClassifier, crops: np.ndarray, seconds: float) -> dict[str, float]:
    """crops/s and process CPU ms per crop at each batch size."""
    results = {}
    for batch in BATCHES:
        chunk = crops[:batch]
        calls, wall, cpu = repeat_for(
            seconds, lambda chunk=chunk, batch=batch: classifier.predict(chunk, batch_size=batch)
        )
        results[f"crops_per_s_batch{batch}"] = calls * batch / wall
        results[f"cpu_ms_per_crop_batch{batch}"] = 1000 * cpu / (calls * batch)
    return results


def gru_throughput(weights: Path, cnn_weights: Path, seconds: float) -> dict[str, float]:
    """Smoother updates/s (one track, one frame per call) for the PyTorch and ONNX Runtime GRU, and
    the largest difference between their outputs over a random 200-frame track."""
    gru = load_gru(weights, device="cpu", cnn_weights=cnn_weights)
    step = OnnxGruStep.from_checkpoint(weights, cnn_weights)
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(gru.num_classes), 200).astype(np.float32)
    embeddings = rng.normal(size=(200, gru.embed_dim)).astype(np.float32)
    present = rng.random(200) > 0.2
    smoothers = {"torch": lambda: make_smoother("gru", gru), "onnx": step.smoother}
    outputs = {}
    for name, fresh in smoothers.items():
        smoother = fresh()
        outputs[name] = np.stack(
            [
                smoother.update(p if seen else None, e if seen else None)
                for p, e, seen in zip(probs, embeddings, present)
            ]
        )
    results = {"max_abs_diff": float(np.abs(outputs["torch"] - outputs["onnx"]).max())}
    for name, fresh in smoothers.items():
        smoother = fresh()
        calls, wall, _ = repeat_for(seconds, lambda smoother=smoother: smoother.update(probs[0], embeddings[0]))
        results[f"{name}_updates_per_s"] = calls / wall
    return results


def main(args: argparse.Namespace) -> None:
    out = Path(args.out)
    json_path, md_path = out / "bench_crops.json", out / "bench_crops.md"
    check_overwrite_or_exit([json_path, md_path], args.overwrite)
    torch.set_num_threads(args.threads)
    flags = cpu_flags()
    host = {
        **machine(),
        "int8_dot_product_flags": list(int8_dot_product_flags(flags)),
    }
    data_path = resolve_fer2013_path()
    publictest = load_fer2013(data_path, splits=["publictest"])["publictest"] if data_path else None
    if publictest is not None and args.accuracy_crops:
        publictest = FaceArrays(publictest.images[: args.accuracy_crops], publictest.labels[: args.accuracy_crops])
    if publictest is not None:
        bench_crops = publictest.images[: max(BATCHES)]
    else:
        bench_crops = np.random.default_rng(0).integers(0, 256, (max(BATCHES), 48, 48), dtype=np.uint8)

    cnns = {"custom": Path(args.weights)} if args.weights else {name: default_cnn_path(name) for name in args.models}
    rows = {}
    for model_name, weights in cnns.items():
        reference = None
        for name in args.backends:
            label = f"{model_name} / {name}"
            if name == "onnx-int8" and data_path is None:
                rows[label] = {"skipped": "needs FER2013 Training crops to calibrate (set FER2013_PATH)"}
                continue
            started = time.perf_counter()
            classifier = CropClassifier.from_file(weights, device="cpu", backend=name, threads=args.threads)
            row = {"weights": str(weights), "load_s": time.perf_counter() - started}
            if name == "auto":
                row.update(picked=classifier.backend_name, reason=classifier.backend_reason)
            row.update(throughput(classifier, bench_crops, args.seconds))
            if isinstance(classifier.backend, OnnxBackend):
                row["onnx_file_mib"] = os.path.getsize(classifier.backend.path) / 2**20
            if publictest is not None:
                row["temperature"] = classifier.temperature
                probs = classifier.predict_proba(publictest.images)
                row["publictest_accuracy"] = float((probs.argmax(1) == publictest.labels).mean())
                if reference is None:
                    reference = (name, probs)
                row["max_abs_prob_diff_vs_" + reference[0]] = float(np.abs(probs - reference[1]).max())
            rows[label] = row
            print(label, json.dumps(row))

    gru_weights = Path(args.gru_weights) if args.gru_weights else default_gru_path()
    gru_cnn = Path(args.weights) if args.weights else default_cnn_path()
    gru = gru_throughput(gru_weights, gru_cnn, args.seconds) if gru_weights.is_file() else None
    report = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "commit": source_revision(),
        "command": "python scripts/bench_crops.py " + shlex.join(sys.argv[1:]),
        "machine": {**host, "load_average_1min_at_end": os.getloadavg()[0], "onnxruntime": _ort_version()},
        "settings": {
            "threads": args.threads,
            "batches": list(BATCHES),
            "seconds_per_measurement": args.seconds,
            "crops": "FER2013 PublicTest" if publictest is not None else "random uint8 48x48",
            "accuracy_crops": len(publictest.images) if publictest is not None else 0,
        },
        "backends": rows,
        "gru_step": gru,
        "targets": targets(rows),
    }
    write_report(json_path, md_path, report, markdown(report))
    print(markdown(report))


def targets(rows: dict[str, dict]) -> dict[str, dict]:
    """Each model's ``auto`` row against :data:`TARGETS`: its crops/s at batch 64 and its PublicTest
    accuracy loss from the ``onnx`` (fp32) row, where both were measured."""
    checked = {}
    for model_name, needed in TARGETS.items():
        auto, fp32 = rows.get(f"{model_name} / auto", {}), rows.get(f"{model_name} / onnx", {})
        if "crops_per_s_batch64" not in auto:
            continue
        loss = None
        if "publictest_accuracy" in auto and "publictest_accuracy" in fp32:
            loss = fp32["publictest_accuracy"] - auto["publictest_accuracy"]
        fast_enough = auto["crops_per_s_batch64"] >= needed
        checked[model_name] = {
            "crops_per_s_batch64_needed": needed,
            "crops_per_s_batch64": auto["crops_per_s_batch64"],
            "accuracy_loss_vs_fp32": loss,
            "met": fast_enough and loss is not None and loss <= MAX_ACCURACY_LOSS,
        }
    return checked


def _ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


def markdown(report: dict) -> str:
    host, settings = report["machine"], report["settings"]
    lines = [
        "# Emotion CNNs and backends: PyTorch vs ONNX Runtime",
        "",
        (
            f"{report['date']}, commit {report['commit']}, on {host['hardware']} ({host['platform']}), "
            f"onnxruntime {host['onnxruntime']}; "
            f"int8 dot-product instructions: "
            f"{', '.join(host['int8_dot_product_flags']) or 'none'}. "
            f"{settings['threads']} threads for PyTorch and ONNX Runtime. 1-minute load average "
            f"{host['load_average_1min_at_start']:.2f} at start, {host['load_average_1min_at_end']:.2f} at end "
            f"(above {host['cpu_count']} = other work shared the CPU and the figures are low)."
        ),
        (
            f"Throughput: `CropClassifier.predict` on {settings['crops']} crops (preprocessing included), "
            f"{settings['seconds_per_measurement']:g} s per figure. Accuracy: {settings['accuracy_crops']} PublicTest "
            "crops; probability difference: largest |p - p_reference| over them."
        ),
        "",
        "| model / backend | crops/s batch 1 | crops/s batch 64 | CPU ms/crop b64 | PublicTest acc | max abs prob diff | load s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in report["backends"].items():
        if "skipped" in row:
            lines.append(f"| {name} | skipped: {row['skipped']} | | | | | |")
            continue
        diff = next((f"{v:.1e} (vs {k.rsplit('_vs_', 1)[1]})" for k, v in row.items() if "_vs_" in k), "n/a")
        accuracy = f"{row['publictest_accuracy']:.4f}" if "publictest_accuracy" in row else "n/a"
        label = f"{name} (picks {row['picked']})" if "picked" in row else name
        lines.append(
            f"| {label} | {row['crops_per_s_batch1']:.0f} | {row['crops_per_s_batch64']:.0f} | "
            f"{row['cpu_ms_per_crop_batch64']:.2f} | {accuracy} | {diff} | {row['load_s']:.1f} |"
        )
    picks = [(name, row) for name, row in report["backends"].items() if "picked" in row]
    if picks:
        lines += ["", "What `--backend auto` picks here, and why (`fer_video.backends.auto`):", ""]
        lines += [f"- {name.split(' / ')[0]}: `{row['picked']}`: {row['reason']}" for name, row in picks]
    gru = report["gru_step"]
    if gru:
        lines += [
            "",
            "| temporal GRU step (1 track) | updates/s |",
            "|---|---|",
            f"| torch | {gru['torch_updates_per_s']:.0f} |",
            f"| onnx | {gru['onnx_updates_per_s']:.0f} |",
            "",
            (
                "GRU smoothed probabilities, ONNX Runtime vs PyTorch over a 200-frame track: max abs diff "
                f"{gru['max_abs_diff']:.1e}."
            ),
        ]
    lines += [
        "",
        f"Targets: `--backend auto` at batch 64, within {100 * MAX_ACCURACY_LOSS:g} PublicTest points of fp32.",
        "",
        "| model | crops/s needed | crops/s measured | points below fp32 | met |",
        "|---|---|---|---|---|",
    ]
    for model_name, target in report["targets"].items():
        loss = target["accuracy_loss_vs_fp32"]
        lines.append(
            f"| {model_name} | >= {target['crops_per_s_batch64_needed']:,.0f} | {target['crops_per_s_batch64']:,.0f} | "
            f"{'n/a' if loss is None else f'{100 * loss:.2f}'} | {'yes' if target['met'] else 'no'} |"
        )
    lines += ["", f"Command: `{report['command']}` (`--overwrite` to replace these files).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main(get_args_parser().parse_args())
