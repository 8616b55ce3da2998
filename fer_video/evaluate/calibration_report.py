"""Write a calibration's files: calibration.json, report.md and reliability.png (each atomically)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fer_video.evaluate.outputs import write_text_atomic
from fer_video.evaluate.plots import plot_reliability


def report_paths(out_dir: Path) -> dict[str, Path]:
    """Every file a calibration report writes, by role."""
    names = {"json": "calibration.json", "report": "report.md", "reliability_png": "reliability.png"}
    return {role: out_dir / name for role, name in names.items()}


def _row(name: str, nll: float, ece: float) -> str:
    return f"| {name} | {nll:.4f} | {ece:.4f} |"


def render_report(result: dict[str, Any]) -> str:
    """A markdown summary of :func:`fer_video.evaluate.calibrate.calibrate_checkpoint`'s result."""
    record, int8 = result["calibration"], result.get("int8_accuracy")
    temperature = record["temperature"]
    lines = [
        f"# Confidence calibration of `{Path(result['weights']).name}` (`{result['model']}`)",
        "",
        f"- command: `{result['command']}`" if result["command"] else "- command: (library call)",
        f"- date {record['date']}, commit {result['revision']}, on {record['hardware']}",
        f"- data: `{record['data']}` (sha256 `{str(record['data_sha256'])[:16]}...`), split `{record['split']}`, "
        f"{record['n_images']} images",
        f"- method: {record['method']}; ECE: top-label, {record['ece_bins']} equal-width confidence bins",
        f"- result: **T = {temperature:.4f}**, in `meta[\"temperature\"]` of `{result['out']}` "
        f"(sha256 `{result['out_sha256'][:16]}...`); weights copied unchanged from sha256 "
        f"`{record['source_sha256'][:16]}...`. The classifier divides the logits by T before the softmax "
        "(PyTorch and ONNX backends alike); accuracy is unchanged.",
        "",
        f"## {record['split']}, all {record['n_images']} images (in-sample: T was fitted on them)",
        "",
        f"Accuracy {100 * record['accuracy']:.2f} % with or without T.",
        "",
        "| probabilities | NLL | ECE |",
        "|---|---|---|",
        _row("uncalibrated (T = 1)", record["nll_before"], record["ece_before"]),
        _row(f"calibrated (T = {temperature:.4f})", record["nll_after"], record["ece_after"]),
        "",
        f"Sampling alone gives an ECE: labels drawn from the calibrated probabilities themselves (perfect "
        f"calibration) score {record['ece_noise_floor_after']:.4f} on average on {record['n_images']} images.",
        "",
        "## Held-out halves",
        "",
        f"The images split at random into two halves (seed {record['split_half_seed']}); T is fitted on one half "
        "and scored on the other, so these figures are out of sample.",
        "",
        "| T fitted on | T | scored on | NLL T = 1 | NLL fitted T | ECE T = 1 | ECE fitted T "
        "| ECE of perfect calibration |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for fitted, scored, fold in zip(("half 1", "half 2"), ("half 2", "half 1"), record["split_half"]):
        lines.append(
            f"| {fitted} | {fold['temperature']:.4f} | {scored} ({fold['n_images']} images) | {fold['nll_before']:.4f} "
            f"| {fold['nll_after']:.4f} | {fold['ece_before']:.4f} | {fold['ece_after']:.4f} "
            f"| {fold['ece_noise_floor_after']:.4f} |"
        )
    if int8:
        gap = 100 * abs(int8["fp32"] - int8["int8"])
        lines += [
            "",
            "## int8 accuracy (read by `--backend auto`)",
            "",
            f"The int8 graph (ONNX Runtime {int8['onnxruntime']} static QDQ, {int8['calibration_crops']} Training "
            f"crops for its activation ranges): {100 * int8['int8']:.2f} % on {int8['split']} against "
            f"{100 * int8['fp32']:.2f} % in fp32 ({gap:.2f} points apart; top-1 agreement "
            f"{100 * int8['top1_agreement']:.2f} %); at T = {temperature:.4f} its NLL is "
            f"{int8['nll_calibrated']:.4f} and its ECE {int8['ece_calibrated']:.4f}. Stored in "
            "`meta[\"int8_accuracy\"]`.",
        ]
    lines += ["", f"![reliability diagram]({result['files']['reliability_png']})", ""]
    return "\n".join(lines)


def write_calibration_report(paths: dict[str, Path], result: dict[str, Any]) -> None:
    """Write every file of :func:`report_paths` for ``result``."""
    record = result["calibration"]
    plot_reliability(
        [
            (f"uncalibrated: ECE {record['ece_before']:.4f}", result["reliability"]["before"]),
            (f"T = {record['temperature']:.3f}: ECE {record['ece_after']:.4f}", result["reliability"]["after"]),
        ],
        paths["reliability_png"],
        title=f"{Path(result['weights']).name} on {record['split']} ({record['n_images']} images)",
    )
    write_text_atomic(paths["json"], json.dumps(result, indent=2) + "\n")
    write_text_atomic(paths["report"], render_report(result))
