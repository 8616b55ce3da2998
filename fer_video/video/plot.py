"""``timeline.png``: the smoothed emotion probabilities over time, one stacked-area panel per face."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fer_video.imaging import CLASS_COLORS

#: Panels drawn at most; the longest tracks are kept, the rest are only in the CSV.
MAX_PANELS = 8
#: Rows plotted per track at most (longer tracks are thinned evenly).
MAX_POINTS = 4000


def plot_timeline(
    timeline_csv: Path, png: Path, classes: Sequence[str], duration_s: float, title: str, message: str = ""
) -> None:
    """Read ``timeline_csv`` back and draw ``png``; with no rows, a figure that says ``message``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = pd.read_csv(timeline_csv, usecols=["time_s", "track_id", *classes])
    tracks = table.groupby("track_id")
    shown = sorted(tracks.size().nlargest(MAX_PANELS).index)
    colors = [np.array(CLASS_COLORS.get(name, (128, 128, 128))) / 255 for name in classes]
    panels = max(len(shown), 1)
    height = 1.3 + 1.7 * panels
    figure, axes = plt.subplots(panels, 1, figsize=(12, height), sharex=True, squeeze=False)
    figure.suptitle(title, fontsize=12)
    if not shown:
        axes[0, 0].text(0.5, 0.5, message, ha="center", va="center", fontsize=14, transform=axes[0, 0].transAxes)
        axes[0, 0].set_yticks([])
    for axis, track_id in zip(axes[:, 0], shown):
        times, probs = _with_gaps(tracks.get_group(track_id), classes)
        axis.stackplot(times, probs.T, colors=colors, labels=classes, linewidth=0)
        axis.set_ylim(0, 1)
        axis.set_yticks([0, 0.5, 1])
        axis.set_ylabel("p")
        axis.set_title(_panel_title(track_id, tracks.get_group(track_id), classes), fontsize=10, loc="left")
        axis.grid(axis="x", alpha=0.3)
    axes[-1, 0].set_xlim(0, max(duration_s, 1e-3))
    axes[-1, 0].set_xlabel("time (s)")
    if shown:
        handles, labels = axes[0, 0].get_legend_handles_labels()
        figure.legend(handles[::-1], labels[::-1], loc="center right", fontsize=9, frameon=False)
    hidden = tracks.ngroups - len(shown)
    if hidden > 0:
        figure.text(0.01, 0.005, f"{hidden} shorter track(s) not shown (see timeline.csv)", fontsize=8)
    figure.tight_layout(rect=(0, 0.3 / height, 0.89 if shown else 1, 1 - 0.4 / height))
    figure.savefig(png, dpi=100)
    plt.close(figure)


def _with_gaps(rows: pd.DataFrame, classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Times and probabilities (T, C) of one track, thinned to :data:`MAX_POINTS`, with a NaN
    row wherever the face was missing for more than a few analysed frames (a visible gap)."""
    rows = rows.iloc[:: max(1, len(rows) // MAX_POINTS)]
    times = rows["time_s"].to_numpy(np.float64)
    probs = rows[list(classes)].to_numpy(np.float64)
    if len(times) < 2:
        return times, probs
    steps = np.diff(times)
    breaks = np.flatnonzero(steps > 3 * np.median(steps)) + 1
    times = np.insert(times, breaks, times[breaks - 1] + np.median(steps))
    probs = np.insert(probs, breaks, np.nan, axis=0)
    return times, probs


def _panel_title(track_id: int, rows: pd.DataFrame, classes: Sequence[str]) -> str:
    share = rows[list(classes)].to_numpy().argmax(axis=1)
    counts = np.bincount(share, minlength=len(classes)) / max(len(rows), 1)
    top = int(counts.argmax())
    start, end = rows["time_s"].iloc[0], rows["time_s"].iloc[-1]
    return f"face #{track_id}   {start:.1f}-{end:.1f} s   mostly {classes[top]} ({counts[top]:.0%} of the time)"
