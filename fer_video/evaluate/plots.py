"""Figures for evaluation reports: confusion matrices and training curves (PNG, written atomically)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from fer_video.evaluate.metrics import row_normalise
from fer_video.evaluate.outputs import atomic_path

LOG_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc")


def save_figure(figure: Figure, path: str | os.PathLike) -> None:
    """Render ``figure`` to a PNG at ``path`` atomically."""
    with atomic_path(path) as partial:
        figure.savefig(partial, dpi=120)


def _draw_matrix(axes, matrix: np.ndarray, classes: Sequence[str], title: str, fmt: str) -> None:
    axes.imshow(matrix, cmap="Blues", vmin=0)
    ticks = np.arange(len(classes))
    axes.set(xticks=ticks, yticks=ticks, xlabel="predicted", ylabel="true", title=title)
    axes.set_xticklabels(classes, rotation=45, ha="right")
    axes.set_yticklabels(classes)
    threshold = matrix.max() / 2 if matrix.size else 0
    for row, col in np.ndindex(matrix.shape):
        colour = "white" if matrix[row, col] > threshold else "black"
        axes.text(col, row, format(matrix[row, col], fmt), ha="center", va="center", color=colour, fontsize=8)


def plot_confusion_matrix(
    counts: np.ndarray, classes: Sequence[str], path: str | os.PathLike, title: str = "confusion matrix"
) -> None:
    """Two panels: raw counts and row-normalised (each row sums to 1; the diagonal is recall)."""
    counts = np.asarray(counts)
    side = 2.2 + 0.55 * len(classes)
    figure = Figure(figsize=(2 * side, side + 0.4))
    figure.subplots_adjust(left=0.14, right=0.98, bottom=0.2, top=0.9, wspace=0.45)
    left, right = figure.subplots(1, 2)
    _draw_matrix(left, counts, classes, f"{title}: counts", "d")
    _draw_matrix(right, row_normalise(counts), classes, f"{title}: row-normalised", ".2f")
    save_figure(figure, path)


def read_training_log(path: str | os.PathLike) -> pd.DataFrame:
    """A run's ``log.csv`` (one row per epoch); ValueError if it lacks the expected columns."""
    try:
        log = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read training log {path}: {error}") from error
    missing = [c for c in LOG_COLUMNS if c not in log.columns]
    if missing or log.empty:
        raise ValueError(f"{path} is not a training log: missing columns {missing} or no rows")
    return log


def read_training_logs(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """The logs of consecutive training stages (a run, then runs fine-tuning it) as one log: epochs are
    numbered on across stages and a ``stage`` column (1, 2, ...) says which run each row came from."""
    stages = []
    offset = 0
    for number, path in enumerate(paths, start=1):
        log = read_training_log(path).assign(stage=number)
        log["epoch"] = log["epoch"] + offset
        offset = int(log["epoch"].max())
        stages.append(log)
    return pd.concat(stages, ignore_index=True)


def plot_training_curves(log: pd.DataFrame, path: str | os.PathLike, title: str = "training") -> None:
    """Loss and accuracy per epoch, training vs PublicTest (and the EMA weights' PublicTest scores, when
    the run kept an EMA; the labelled real clips' frame accuracy, when it scored them), from a run's epoch log."""
    figure = Figure(figsize=(11, 4))
    figure.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.91, wspace=0.22)
    loss_axes, acc_axes = figure.subplots(1, 2)
    for axes, metric in ((loss_axes, "loss"), (acc_axes, "acc")):
        axes.plot(log["epoch"], log[f"train_{metric}"], marker="o", markersize=3, label="train (augmented)")
        axes.plot(log["epoch"], log[f"val_{metric}"], marker="o", markersize=3, label="PublicTest")
        ema = log.get(f"ema_val_{metric}", pd.Series(dtype=float))
        if ema.notna().any():
            axes.plot(log["epoch"], ema, marker="o", markersize=3, label="PublicTest (EMA weights)")
        if metric == "acc":
            _plot_real_clip_accuracy(axes, log)
        for boundary in log.loc[log.get("stage", pd.Series(1, index=log.index)).diff() > 0, "epoch"]:
            axes.axvline(boundary - 0.5, color="grey", linestyle="--", linewidth=1)
        axes.set(xlabel="epoch", ylabel=metric, title=f"{title}: {metric}")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
        axes.legend()
    save_figure(figure, path)


def _plot_real_clip_accuracy(axes, log: pd.DataFrame) -> None:
    """The labelled real clips' mean frame accuracy per epoch, for runs that scored them (``real_clips``)."""
    for column, label in (("real_clip_acc", "real clips"), ("ema_real_clip_acc", "real clips (EMA weights)")):
        values = log.get(column, pd.Series(dtype=float))
        if values.notna().any():
            axes.plot(log["epoch"], values, marker="s", markersize=3, linestyle=":", label=label)


def _draw_reliability(axes, counts_axes, table: dict[str, list[float]], title: str) -> None:
    lower, upper = np.asarray(table["lower"]), np.asarray(table["upper"])
    centre, width = (lower + upper) / 2, upper - lower
    count = np.asarray(table["count"])
    filled = count > 0
    accuracy, confidence = np.asarray(table["accuracy"]), np.asarray(table["confidence"])
    axes.bar(centre[filled], accuracy[filled], width[filled], color="tab:blue", edgecolor="black", label="accuracy")
    axes.bar(
        centre[filled],
        (confidence - accuracy)[filled],
        width[filled],
        bottom=accuracy[filled],
        color="tab:red",
        alpha=0.3,
        edgecolor="tab:red",
        hatch="//",
        label="gap to mean confidence",
    )
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect calibration")
    axes.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy in bin", title=title)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", fontsize=8)
    counts_axes.bar(centre, count, width, color="tab:grey", edgecolor="black")
    counts_axes.set(xlim=(0, 1), xlabel="top-label confidence", ylabel="images")


def plot_reliability(
    panels: Sequence[tuple[str, dict[str, list[float]]]], path: str | os.PathLike, title: str = "reliability"
) -> None:
    """One reliability diagram per ``(panel title, bins)`` (see
    :func:`fer_video.evaluate.calibration.reliability_bins`), side by side, each with the number
    of images per bin below it."""
    figure = Figure(figsize=(5 * len(panels), 6.2))
    figure.suptitle(title)
    grid = figure.add_gridspec(2, len(panels), height_ratios=(3, 1), hspace=0.35, wspace=0.25)
    for column, (name, table) in enumerate(panels):
        _draw_reliability(figure.add_subplot(grid[0, column]), figure.add_subplot(grid[1, column]), table, name)
    figure.subplots_adjust(left=0.08, right=0.98, bottom=0.09, top=0.88)
    save_figure(figure, path)
