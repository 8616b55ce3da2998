"""Write the temporal comparison: CSV, markdown table, example-clip plot and the model-card section."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fer_video.temporal.clips import ClipFeatures
from fer_video.temporal.config import TemporalConfig
from fer_video.temporal.model import TemporalGRU
from fer_video.temporal.smoothing import smooth_sequence

COLUMNS = {
    "method": "method",
    "ema_alpha": "EMA alpha",
    "frame_acc": "frame acc",
    "macro_f1": "macro-F1",
    "switches_per_min": "switches/min",
    "spurious_per_min": "spurious/min",
    "true_switches_per_min": "true switches/min",
    "change_recall": "changes found",
    "lag_median_s": "lag median (s)",
    "lag_mean_s": "lag mean (s)",
}

DEFINITIONS = (
    "Scores use the frames where the face is present. A *switch* is a change of the predicted label between "
    "consecutive present frames; after a true change into class k, the first switch into k inside that segment is "
    "the explained one and every other switch is *spurious*. *Changes found*: the share of true changes whose new "
    "emotion is predicted at some frame of its segment; *lag*: time from the true change to that first frame. "
    "The `ema` row marked * uses the alpha matched to the GRU on the training-image validation clips (never on "
    "these): the smoothest EMA whose spurious switches per minute there are at least the GRU's."
)


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(partial)
    partial.replace(path)


def markdown_table(table: pd.DataFrame) -> str:
    """The comparison as a markdown table (matched EMA marked with *)."""
    shown = table.copy()
    shown["ema_alpha"] = [
        "" if pd.isna(a) else f"{a:g}{' *' if m else ''}" for a, m in zip(shown.ema_alpha, shown.matched)
    ]
    header = "| " + " | ".join(COLUMNS.values()) + " |"
    rule = "|" + "|".join("---" if k in ("method", "ema_alpha") else "---:" for k in COLUMNS) + "|"
    lines = [header, rule]
    for _, row in shown.iterrows():
        cells = [str(row.method), row.ema_alpha]
        cells += [f"{row[k]:.3f}" for k in ("frame_acc", "macro_f1")]
        cells += [f"{row[k]:.1f}" for k in ("switches_per_min", "spurious_per_min", "true_switches_per_min")]
        cells += [f"{row.change_recall:.2f}", f"{row.lag_median_s:.1f}", f"{row.lag_mean_s:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def bar_summary(checks: dict[str, Any], matched_alpha: float) -> str:
    verdict = "PASSED" if checks["passed"] else "NOT MET"
    return (
        f"Bar {verdict}: the GRU has {checks['spurious_reduction_vs_none']:.1f}x fewer spurious switches than `none` "
        f"(needs >= 5x) with frame accuracy {checks['frame_acc_gain_vs_none']:+.3f} against `none` (needs >= 0) and "
        f"{checks['frame_acc_gain_vs_matched_ema']:+.3f} against the flicker-matched `ema` (alpha {matched_alpha:g}; "
        f"needs > 0), whose spurious switches per minute differ from the GRU's by "
        f"{-checks['spurious_gap_vs_matched_ema']:+.1f} (needs >= 0)."
    )


def example_clip_index(clips: ClipFeatures) -> int:
    """The first clip with at least two emotion changes and a dropped detection (else clip 0)."""
    for index in range(len(clips)):
        changes = np.count_nonzero(np.diff(clips.labels[index]))
        if changes >= 2 and not clips.present[index].all():
            return index
    return 0


def plot_example_clip(
    clips: ClipFeatures, index: int, gru: TemporalGRU, ema_alpha: float, classes: list[str], path: Path
) -> None:
    """Raw CNN probabilities, EMA and GRU outputs of one clip, with the true emotion and missed frames."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    probs, emb = clips.probs[index], clips.embeddings[index]
    present, labels = clips.present[index], clips.labels[index]
    curves = {
        "none (raw CNN)": smooth_sequence("none", probs, present=present),
        f"ema (alpha {ema_alpha:g})": smooth_sequence("ema", probs, ema_alpha=ema_alpha, present=present),
        "gru": smooth_sequence("gru", probs, emb, gru=gru, present=present),
    }
    time_s = np.arange(len(labels)) / clips.fps
    colours = plt.get_cmap("tab10").colors
    fig, axes = plt.subplots(len(curves) + 1, 1, figsize=(10, 8), sharex=True, height_ratios=[1] + [3] * len(curves))
    strips = np.stack([labels] + [c.argmax(-1) for c in curves.values()])
    axes[0].imshow(
        strips,
        aspect="auto",
        interpolation="nearest",
        cmap=matplotlib.colors.ListedColormap(colours[: len(classes)]),
        vmin=-0.5,
        vmax=len(classes) - 0.5,
        extent=(time_s[0], time_s[-1] + 1 / clips.fps, len(strips) - 0.5, -0.5),
    )
    axes[0].set_yticks(range(len(strips)), ["true"] + [name.split(" ")[0] for name in curves])
    axes[0].set_title("labels (colour = class); grey bands below = face not detected")
    for axis, (name, values) in zip(axes[1:], curves.items()):
        for k, cls in enumerate(classes):
            axis.plot(time_s, values[:, k], color=colours[k], label=cls, linewidth=1.2)
        for t in np.flatnonzero(~present):
            axis.axvspan(time_s[t], time_s[t] + 1 / clips.fps, color="0.85", linewidth=0)
        for t in np.flatnonzero(np.diff(labels)) + 1:
            axis.axvline(time_s[t], color="k", linestyle="--", linewidth=0.8)
        axis.set_ylim(0, 1)
        axis.set_ylabel(name, fontsize=9)
    axes[1].legend(ncol=len(classes), fontsize=8, loc="upper center", bbox_to_anchor=(0.5, 1.35))
    axes[-1].set_xlabel("time (s); dashed = true change of emotion")
    fig.tight_layout()
    _write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


def model_card_section(
    table: pd.DataFrame, checks: dict[str, Any], clips: ClipFeatures, gru: TemporalGRU, matched: float
) -> str:
    """The GRU's section for models/README.md: what it is, how it was trained (from its metadata)
    and this evaluation's numbers."""
    meta = gru.meta
    trained = TemporalConfig.from_dict(meta["config"])
    sim = trained.simulation
    params = sum(p.numel() for p in gru.parameters())
    n_clips, frames = clips.labels.shape
    train_time = meta.get("timings_s", {}).get("total_s", float("nan"))
    clips_time = meta.get("timings_s", {}).get("clips_s", float("nan"))
    retrain = "fer-video train-temporal --config configs/temporal.yaml --overwrite"
    return f"""## Temporal GRU (`models/emotion_gru.pt`)

Smooths one face track's per-frame CNN outputs over time. Input per frame: the CNN embedding
({gru.embed_dim} values, `forward_features`), the CNN's class probabilities and a face-present flag.
Output per frame: smoothed probabilities over {", ".join(meta["classes"])}. The hidden state
({gru.hidden_size} values) is carried from frame to frame; a frame without a detection leaves it
unchanged. Use it through `fer_video.temporal.make_smoother("gru", load_gru())` (online, one
`update()` per frame) or `smooth_sequence("gru", ...)` (a whole track; same numbers).
Trained for **{meta["fps"]:g} fps**.

- Architecture: GRU-gated exponential smoothing. LayerNorm -> Linear({gru.embed_dim}+{gru.num_classes} ->
  {gru.hidden_size}) + GELU -> GRUCell({gru.hidden_size}); from the hidden state h, a correction of the CNN's
  log-probabilities gives q = softmax(log p_cnn + Linear(h)) and a gate g = sigmoid(Linear(h)); the
  output is p = (1 - g) p_prev + g q. {params:,} parameters. Checkpoint: a plain dict
  `{{"model", "meta"}}`, loadable with `weights_only=True`.
- Tied to the CNN: trained on the embeddings of `{meta.get("cnn_file", "emotion_cnn.pt")}`
  (sha256 `{meta["cnn_sha256"][:16]}...`); `load_gru()` warns when the CNN file differs.
  After replacing the CNN, retrain with `{retrain}`, then
  `fer-video eval-temporal --config configs/temporal.yaml` to refresh this section.
- Training data: no labelled video exists here, so clips are simulated from FER2013 stills
  (`fer_video/temporal/simulate.py`, parameters in `configs/temporal.yaml`): {sim.clip_seconds:g} s
  clips at {sim.fps:g} fps cut into emotion segments of {sim.segment_seconds[0]:g}-{sim.segment_seconds[1]:g} s,
  each showing one still of its emotion (the next segment switches to a still of another emotion,
  faded in over {sim.transition_seconds:g} s; {sim.same_emotion_switches_per_minute:g} times a minute the still changes to
  another of the same emotion), under smooth random head motion (shift, rotation,
  scale), lighting drift, blur, sensor noise, brief occlusions ({sim.occlusion_per_minute:g}/min) and
  dropped detections ({sim.dropout_per_minute:g}/min).
- Training: {trained.train_clips} training and {trained.val_clips} validation clips from disjoint parts
  of the Training split. Loss: per-frame cross-entropy plus {trained.smoothness_weight:g} x a soft count of
  label switches between frames of the same true emotion (total-variation distance of the outputs
  sharpened at temperature {trained.smoothness_temperature:g}); AdamW,
  {trained.epochs} epochs; kept: the epoch with the best validation frame accuracy among those with at least
  {trained.min_spurious_reduction:g}x fewer spurious switches than `none` on the validation clips.
  {train_time:.0f} s in all, of which {clips_time:.0f} s simulating clips and running the CNN over them
  (clip sets already in the cache are reused) ({meta.get("hardware", "")}).
- Evaluation: {n_clips} held-out clips ({n_clips * frames / sim.fps / 60:.1f} minutes) built only
  from PublicTest images:

{markdown_table(table)}

{bar_summary(checks, matched)}

{DEFINITIONS}

Limitations: the clips are simulated. Real expressions have gradual onsets, blend with speech and
out-of-plane head turns, and one person shows several emotions; stills cannot reproduce that, so
these figures measure how well noise in the CNN's per-frame outputs is smoothed, not accuracy on real
video. A wrong CNN prediction that is stable over a segment cannot be fixed by smoothing. At a frame
rate other than {meta["fps"]:g} fps the smoothing time constant changes in proportion.
"""


def _gru_mismatch(gru: TemporalGRU, cnn_sha256: str) -> str:
    """A note when the GRU was trained on another CNN than the one scored (its row then pairs them wrongly)."""
    trained_on = str(gru.meta.get("cnn_sha256", ""))
    if trained_on == cnn_sha256:
        return ""
    return f" (the GRU was trained on another CNN, `{trained_on[:16]}...`: its rows pair the two)"


def write_report(
    out_dir: Path,
    table: pd.DataFrame,
    checks: dict[str, Any],
    clips: ClipFeatures,
    gru: TemporalGRU,
    matched: float,
    timings: dict[str, float],
    cnn_sha256: str,
) -> list[Path]:
    """Write comparison.csv, comparison.md, example_clip.png and MODEL_CARD_SECTION.md; return their
    paths. ``cnn_sha256``: the file hash of the CNN that was scored (the GRU may have been trained on another)."""
    classes = list(gru.meta["classes"])
    csv_path, md_path = out_dir / "comparison.csv", out_dir / "comparison.md"
    plot_path, card_path = out_dir / "example_clip.png", out_dir / "MODEL_CARD_SECTION.md"
    _write_atomic(csv_path, lambda tmp: table.to_csv(tmp, index=False, float_format="%.4f"))
    n_clips, frames = clips.labels.shape
    text = (
        "# Temporal smoothing on simulated clips: none, ema, gru, hmm-online, hmm\n\n"
        f"{n_clips} held-out simulated clips of {frames} frames at {clips.fps:g} fps "
        f"({n_clips * frames / clips.fps / 60:.1f} minutes), built only from FER2013 PublicTest images "
        f"(`configs/temporal.yaml`). CNN sha256 `{cnn_sha256[:16]}...`{_gru_mismatch(gru, cnn_sha256)}. "
        f"Written by `fer-video eval-temporal` in {timings['total_s']:.0f} s.\n\n"
        f"{markdown_table(table)}\n\n{bar_summary(checks, matched)}\n\n{DEFINITIONS}\n\n"
        "![An example held-out clip: raw CNN, EMA and GRU probabilities](example_clip.png)\n"
    )
    _write_atomic(md_path, lambda tmp: tmp.write_text(text))
    plot_example_clip(clips, example_clip_index(clips), gru, matched, classes, plot_path)
    card = model_card_section(table, checks, clips, gru, matched)
    _write_atomic(card_path, lambda tmp: tmp.write_text(card))
    return [csv_path, md_path, plot_path, card_path]
