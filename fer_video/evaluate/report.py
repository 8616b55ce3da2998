"""Write an evaluation's files: metrics.json, report.md, per-class and confusion CSVs, PNG figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fer_video.evaluate.metrics import SUBSET_3CLASS
from fer_video.evaluate.outputs import atomic_path, write_text_atomic
from fer_video.evaluate.plots import plot_confusion_matrix, plot_training_curves

SEED_PROTOCOL_NOTE = (
    "The seed project reported 83% on happy/sad/neutral with a Keras CNN trained on these 3 classes and "
    "scored on a random 10% split of its own data. That is a different protocol: here the 7-class model is "
    "scored on the official FER2013 images of those 3 classes, predicting the most probable of the 3."
)


def output_paths(out_dir: Path, with_training_curves: bool) -> dict[str, Path]:
    """Every file an evaluation writes, by role."""
    names = {
        "metrics": "metrics.json",
        "report": "report.md",
        "per_class": "per_class.csv",
        "predictions": "predictions.csv",
        "confusion_csv": "confusion_matrix.csv",
        "confusion_normalised_csv": "confusion_matrix_normalised.csv",
        "confusion_png": "confusion_matrix.png",
        "subset_confusion_csv": "confusion_matrix_3class.csv",
        "subset_confusion_png": "confusion_matrix_3class.png",
    }
    if with_training_curves:
        names["training_curves_png"] = "training_curves.png"
        names["training_log"] = "training_log.csv"
    return {role: out_dir / name for role, name in names.items()}


def _write_csv(frame: pd.DataFrame, path: Path, index: bool = True) -> None:
    with atomic_path(path) as partial:
        frame.to_csv(partial, index=index, float_format="%.6g")


def _matrix_frame(matrix: list[list[float]], classes: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(matrix, index=classes, columns=classes)
    frame.index.name = "true \\ predicted"
    return frame


def _percent(value: float) -> str:
    return f"{100 * value:.2f}%"


def render_report(result: dict[str, Any]) -> str:
    """A short markdown summary of :func:`~fer_video.evaluate.evaluate_checkpoint`'s result."""
    metrics, subset, files = result["metrics"], result["subset_3class"], result["files"]
    lines = [
        f"# Evaluation of `{Path(result['weights']).name}` on FER2013 {result['split']}",
        "",
        f"- model: `{result['model']}`; weights: `{result['weights']}`",
        f"- data: `{result['data']}`, split `{result['split']}`, {metrics['n_images']} images",
        f"- test-time augmentation: `{result['tta']}`; device: {result['hardware']}; "
        f"{result['eval_time_s']:.1f} s ({result['images_per_s']:.0f} images/s)",
        "",
        "## 7 classes",
        "",
        "| accuracy | macro-F1 | weighted-F1 |",
        "|---|---|---|",
        f"| {_percent(metrics['accuracy'])} | {metrics['macro_f1']:.4f} | {metrics['weighted_f1']:.4f} |",
        "",
        "| class | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    for name, row in metrics["per_class"].items():
        lines.append(f"| {name} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | {row['support']} |")
    lines += ["", f"![confusion matrix]({files['confusion_png']})", ""]
    lines += [
        f"## Seed protocol: {' / '.join(SUBSET_3CLASS)} only",
        "",
        f"{subset['n_images']} images; accuracy {_percent(subset['accuracy'])}, macro-F1 {subset['macro_f1']:.4f}.",
        "",
        SEED_PROTOCOL_NOTE,
        "",
        f"![3-class confusion matrix]({files['subset_confusion_png']})",
    ]
    if "training_curves_png" in files:
        lines += ["", "## Training curves", "", f"![training curves]({files['training_curves_png']})"]
    return "\n".join(lines) + "\n"


def write_evaluation(
    paths: dict[str, Path],
    result: dict[str, Any],
    probs: np.ndarray,
    labels: np.ndarray,
    training_log: pd.DataFrame | None = None,
) -> None:
    """Write every file named in ``paths`` (see :func:`output_paths`), each one atomically."""
    metrics, subset = result["metrics"], result["subset_3class"]
    classes = metrics["classes"]
    _write_csv(pd.DataFrame(metrics["per_class"]).T.rename_axis("class"), paths["per_class"])
    predictions = pd.DataFrame(probs, columns=[f"p_{name}" for name in classes])
    predictions.insert(0, "predicted", [classes[i] for i in probs.argmax(axis=1)])
    predictions.insert(0, "true", [classes[i] for i in labels])
    _write_csv(predictions, paths["predictions"], index=False)
    _write_csv(_matrix_frame(metrics["confusion_matrix"], classes), paths["confusion_csv"])
    _write_csv(_matrix_frame(metrics["confusion_matrix_normalised"], classes), paths["confusion_normalised_csv"])
    _write_csv(_matrix_frame(subset["confusion_matrix"], subset["classes"]), paths["subset_confusion_csv"])
    plot_confusion_matrix(np.array(metrics["confusion_matrix"]), classes, paths["confusion_png"])
    plot_confusion_matrix(
        np.array(subset["confusion_matrix"]), subset["classes"], paths["subset_confusion_png"], "3-class subset"
    )
    if training_log is not None:
        plot_training_curves(training_log, paths["training_curves_png"], title=result["model"])
        _write_csv(training_log, paths["training_log"], index=False)
    write_text_atomic(paths["metrics"], json.dumps(result, indent=2) + "\n")
    write_text_atomic(paths["report"], render_report(result))
