"""``fer-video eval-video``: every smoothing scored on sets of real clips, as tables and a plot.

Per clip and smoothing (``clips.csv``): frames, share of frames with a face, switches per minute
of the main track's shown label, its dominant label, the mean confidence shown with it and, for
labelled clips, frame accuracy and whether the dominant label is right. Per set and smoothing
(``summary.csv``, ``report.md``): dominant-label accuracy and mean frame accuracy over the labelled
clips, switches per minute pooled over all clips (total switches / total minutes), the mean share
of frames with a face and, over the labelled clips' frames pooled, the mean shown confidence and its
expected calibration error (does a label shown at 0.9 hold on 9 frames in 10?).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fer_video.evaluate.calibration import confidence_ece
from fer_video.video.evaluation import ClipTrace, ScoredSet, ShownFn, clip_scores, shown_output, smoothed_labels

#: EMA weights searched for ``ema-tuned`` (the one with the best frame accuracy on the labelled clips).
EMA_GRID = tuple(float(a) for a in np.round(np.geomspace(0.02, 1.0, 25), 4))
TUNED_EMA = "ema-tuned"


def label_functions(
    smoothings: Sequence[str], gru, hysteresis: bool, labelled: list[tuple[ClipTrace, int]], classes: Sequence[str]
) -> tuple[dict[str, ShownFn], dict[str, object]]:
    """A shown-output function per smoothing name (``ema-tuned``: EMA with the weight in :data:`EMA_GRID`
    that gives the best mean frame accuracy on ``labelled``, ties to fewer switches), and the
    choices made."""
    functions, chosen = {}, {}
    for name in smoothings:
        if name == TUNED_EMA:
            alpha = tune_ema(labelled, hysteresis, len(classes))
            chosen["ema_tuned_alpha"] = alpha
            functions[f"ema (tuned, alpha {alpha:g})"] = lambda t, a=alpha: shown_output(t, "ema", None, hysteresis, a)
        else:
            functions[name] = lambda t, k=name: shown_output(t, k, gru, hysteresis)
    return functions, chosen


def tune_ema(labelled: list[tuple[ClipTrace, int]], hysteresis: bool, num_classes: int) -> float:
    """The EMA weight of :data:`EMA_GRID` with the best mean frame accuracy on the labelled clips."""
    if not labelled:
        raise ValueError("ema-tuned needs labelled clips (a labels CSV among the sets)")
    best = None
    for alpha in EMA_GRID:
        scores = [clip_scores(t, smoothed_labels(t, "ema", None, hysteresis, alpha), y, num_classes) for t, y in labelled]
        key = (np.mean([s["frame_acc"] for s in scores]), -np.mean([s["switches_per_min"] for s in scores]))
        if best is None or key > best[0]:
            best = (key, alpha)
    return best[1]


def score_sets(
    sets: list[ScoredSet], functions: dict[str, ShownFn], classes: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per set, clip and smoothing (see the module docstring), and one per labelled frame
    with the main track present: set, smoothing, the confidence shown and whether the label was right."""
    rows, frames = [], []
    for clip_set in sets:
        for trace, truth in zip(clip_set.traces, clip_set.truths):
            for name, shown_of in functions.items():
                labels, confidence = shown_of(trace)
                scores = clip_scores(trace, labels, truth, len(classes))
                seen = confidence[trace.present]
                rows.append({
                    "set": clip_set.name, "clip": trace.name, "smoothing": name,
                    "label": classes[truth] if truth is not None else "",
                    "duration_s": round(trace.duration_s, 3), "tracks": trace.tracks,
                    **{k: v for k, v in scores.items() if k != "dominant"},
                    "dominant": classes[scores["dominant"]] if scores["dominant"] >= 0 else "",
                    "mean_confidence": float(seen.mean()) if len(seen) else np.nan,
                })  # fmt: skip
                if truth is not None and len(seen):
                    frames.append(pd.DataFrame({"set": clip_set.name, "smoothing": name, "confidence": seen,
                                                "correct": labels[trace.present] == truth}))  # fmt: skip
    columns = ["set", "smoothing", "confidence", "correct"]
    return pd.DataFrame(rows), pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def summarise(per_clip: pd.DataFrame, labelled_frames: pd.DataFrame) -> pd.DataFrame:
    """One row per set and smoothing, smoothings in the order given; ``labelled_frames`` as
    :func:`score_sets` gives them."""
    calibration = {
        key: (float(group["confidence"].mean()), confidence_ece(group["confidence"], group["correct"]))
        for key, group in labelled_frames.groupby(["set", "smoothing"], sort=False)
    }
    rows = []
    order = list(dict.fromkeys(per_clip["smoothing"]))
    for (set_name, smoothing), group in per_clip.groupby(["set", "smoothing"], sort=False):
        labelled = group[group["label"] != ""]
        minutes = group["duration_s"].sum() / 60
        switches = (group["switches_per_min"] * group["duration_s"] / 60).sum()
        rows.append({
            "set": set_name, "smoothing": smoothing, "clips": len(group), "labelled": len(labelled),
            "dominant_acc": labelled["dominant_ok"].mean() if len(labelled) else np.nan,
            "frame_acc": labelled["frame_acc"].mean() if len(labelled) else np.nan,
            "switches_per_min": switches / minutes if minutes > 0 else np.nan,
            "face_share": group["face_share"].mean(),
            "shown_confidence": calibration.get((set_name, smoothing), (np.nan, np.nan))[0],
            "confidence_ece": calibration.get((set_name, smoothing), (np.nan, np.nan))[1],
        })  # fmt: skip
    table = pd.DataFrame(rows)
    table["order"] = table["smoothing"].map(order.index)
    return table.sort_values(["set", "order"], kind="stable").drop(columns="order").reset_index(drop=True)


def plot_summary(summary: pd.DataFrame, path: Path) -> None:
    """Frame accuracy (labelled sets) and switches per minute (every set) per smoothing."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(dict.fromkeys(summary["set"]))
    smoothings = list(dict.fromkeys(summary["smoothing"]))
    labelled_sets = [s for s in sets if summary.loc[summary["set"] == s, "labelled"].max() > 0]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    width = 0.8 / max(len(smoothings), 1)
    for i, smoothing in enumerate(smoothings):
        rows = summary[summary["smoothing"] == smoothing].set_index("set")
        acc = [rows.loc[s, "frame_acc"] if s in rows.index else np.nan for s in labelled_sets]
        sw = [rows.loc[s, "switches_per_min"] if s in rows.index else np.nan for s in sets]
        axes[0].bar(np.arange(len(labelled_sets)) + i * width, acc, width, label=smoothing)
        axes[1].bar(np.arange(len(sets)) + i * width, sw, width, label=smoothing)
    for axis, names, title in ((axes[0], labelled_sets, "frame accuracy, main track (labelled clips)"),
                               (axes[1], sets, "label switches per minute, main track")):  # fmt: skip
        axis.set_xticks(np.arange(len(names)) + 0.4 - width / 2, [Path(n).name or n for n in names], fontsize=8)
        axis.set_title(title)
        axis.grid(axis="y", alpha=0.3)
    axes[0].set_ylim(0, 1)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown_table(summary: pd.DataFrame) -> str:
    """The summary as a markdown table."""
    lines = ["| set | smoothing | clips | dominant label right | frame accuracy | switches / min | frames with a face "
             "| mean shown confidence | confidence ECE |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for row in summary.itertuples():
        dom = f"{row.dominant_acc:.3f} ({round(row.dominant_acc * row.labelled)}/{row.labelled})" if row.labelled else ""
        acc = f"{row.frame_acc:.3f}" if row.labelled else ""
        confidence = "" if np.isnan(row.shown_confidence) else f"{row.shown_confidence:.3f}"
        ece = "" if np.isnan(row.confidence_ece) else f"{row.confidence_ece:.3f}"
        lines.append(f"| {row.set} | {row.smoothing} | {row.clips} | {dom} | {acc} | {row.switches_per_min:.1f} | "
                     f"{row.face_share:.3f} | {confidence} | {ece} |")  # fmt: skip
    return "\n".join(lines)
