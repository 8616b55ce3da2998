"""Choose the HMM smoother's and the shown-label rule's settings on real clips.

Reads the traces that `fer-video eval-video` cached (run it first with the same --fps and model;
clips not cached are analysed here), then scores a grid of settings:
- labelled clips (labels CSV): mean frame accuracy of the main track, dominant label;
- spliced pairs: for each speaker, every ordered pair of their clips with different labels, the
  first clip's frames followed by the second's (a real CNN output sequence with a known change
  of emotion): frame accuracy, and the delay until the new label is shown;
- unlabelled calm speeches and expressive clips (globs): switches per minute.

Kinds: ``hmm`` and ``hmm-online`` over a grid of HMM and hysteresis settings, and ``ema`` (the live
baseline) over a grid of weights with the default hysteresis.

Selection: among settings whose switches per minute stay at most --max-switches (``hmm``) or
--max-live-switches (``hmm-online``, ``ema``) on the labelled clips and at most --max-speech-switches
on the calm speeches, the best mean of labelled and spliced frame accuracy (ties: fewer switches).
The same rule picked on one speaker's clips and scored on the other's gives the
leave-one-speaker-out figures. Writes tuning.csv and tuning.md.

    python scripts/tune_smoothing.py ../shared/data/real_video/labels.csv \\
        --speeches "../shared/data/real_video/unlabelled/speech_*.mp4" \\
        --expressive "../shared/data/real_video/unlabelled/liveportrait_*.mp4" --out results/real_video
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
import pandas as pd

from fer_video.checkpoint import file_sha256, hardware_description
from fer_video.evaluate.outputs import check_overwrite_or_exit, write_text_atomic
from fer_video.pretrained import default_cnn_path
from fer_video.provenance import source_revision
from fer_video.recognizer import EmotionRecognizer
from tqdm import tqdm

from fer_video.temporal import HmmSettings, HysteresisSettings, hysteresis_labels, smooth_sequence
from fer_video.temporal.hmm import default_hmm
from fer_video.temporal.hysteresis import DEFAULT_HYSTERESIS, default_hysteresis
from fer_video.video import VideoOptions
from fer_video.video.evaluation import ClipTrace, cached_trace, read_clip_set, switches, trace_clip_set
from fer_video.video.evaluation_report import EMA_GRID

SWITCH_RATES = (0.05, 0.1, 0.3)
EVIDENCE = (1.0, 2.0, 4.0)
LAGS = (0.5, 1.0, 2.0)
MARGINS = (0.0, 0.1, 0.2)
HOLDS = (0.0, 0.3, 0.6)


def splice(first: ClipTrace, second: ClipTrace) -> ClipTrace:
    """The two clips' frames one after the other, as one trace."""
    step = first.interval_s
    times = np.concatenate([first.times - first.times[0], second.times - second.times[0] + first.duration_s + step])
    return ClipTrace(
        f"{first.name}+{second.name}", times, np.concatenate([first.face, second.face]),
        np.concatenate([first.present, second.present]), np.concatenate([first.probs, second.probs]),
        np.concatenate([first.embeddings, second.embeddings]), step, 1,
    )  # fmt: skip


def item_scores(config: dict, labelled, pairs, unlabelled) -> dict[str, list]:
    """Per-trace figures for one setting: labelled (accuracy, dominant right, switches, minutes),
    spliced pairs (accuracy, delay) and unlabelled (switches, minutes)."""
    is_hmm = config["kind"] != "ema"
    hmm = HmmSettings(config["switch_rate_hz"], config["evidence_per_s"], max(config["lag_s"], 0.0)) if is_hmm else None
    rule = HysteresisSettings(config["margin"], config["hold_s"])
    alpha = config["ema_alpha"]

    def labels(trace: ClipTrace) -> np.ndarray:
        probs = smooth_sequence(config["kind"], trace.probs, None, None, alpha, trace.present, trace.interval_s, hmm)
        return hysteresis_labels(probs, trace.present, rule, trace.interval_s)

    out = {"labelled": [], "pairs": [], "unlabelled": []}
    for trace, truth in labelled:
        shown = labels(trace)
        dominant = np.bincount(shown[trace.present], minlength=trace.probs.shape[1]).argmax()
        out["labelled"].append((np.mean(shown[trace.present] == truth), dominant == truth,
                                switches(shown, trace.present), trace.duration_s / 60))  # fmt: skip
    for trace, truth, change in pairs:
        shown = labels(trace)
        hits = np.flatnonzero(shown[change:] == truth[change])
        out["pairs"].append((np.mean(shown[trace.present] == truth[trace.present]),
                             hits[0] * trace.interval_s if len(hits) else np.nan))  # fmt: skip
    for trace in unlabelled:
        out["unlabelled"].append((switches(labels(trace), trace.present), trace.duration_s / 60))
    return out


def aggregate(items: dict[str, list], labelled_mask, pairs_mask, speech_mask) -> dict[str, float]:
    lab = [x for x, keep in zip(items["labelled"], labelled_mask) if keep]
    pairs = [x for x, keep in zip(items["pairs"], pairs_mask) if keep]
    speech = [x for x, keep in zip(items["unlabelled"], speech_mask) if keep]
    expressive = [x for x, keep in zip(items["unlabelled"], speech_mask) if not keep]
    delays = np.array([d for _, d in pairs], float)
    return {
        "frame_acc": float(np.mean([a for a, *_ in lab])), "dominant_acc": float(np.mean([d for _, d, *_ in lab])),
        "splice_acc": float(np.mean([a for a, _ in pairs])), "splice_delay_s": float(np.nanmedian(delays)),
        "splice_missed": float(np.mean(np.isnan(delays))),
        "switches_per_min": sum(x[2] for x in lab) / sum(x[3] for x in lab),
        "speech_switches_per_min": sum(n for n, _ in speech) / sum(m for _, m in speech),
        "expressive_switches_per_min": sum(n for n, _ in expressive) / sum(m for _, m in expressive),
    }  # fmt: skip


def speaker_pairs(labelled, speakers) -> tuple[list, list]:
    """Every ordered pair of one speaker's clips with different labels, spliced; and each pair's speaker."""
    pairs, owners = [], []
    for ((a, ya), sa), ((b, yb), sb) in itertools.permutations(zip(labelled, speakers), 2):
        if sa == sb and ya != yb:
            truth = np.r_[np.full(len(a.times), ya), np.full(len(b.times), yb)]
            pairs.append((splice(a, b), truth, len(a.times)))
            owners.append(sa)
    return pairs, owners


def select(table: pd.DataFrame, max_switches: float, max_speech: float) -> pd.Series:
    ok = table[(table["switches_per_min"] <= max_switches) & (table["speech_switches_per_min"] <= max_speech)]
    pool = ok if len(ok) else table
    key = (pool["frame_acc"] + pool["splice_acc"]) / 2
    best = pool.assign(key=key, neg_sw=-pool["switches_per_min"]).sort_values(["key", "neg_sw"], ascending=False)
    return best.iloc[0]


def cell(value: float) -> str:
    """A table cell: 3 significant digits, blank for a setting the kind does not have."""
    return "" if pd.isna(value) else f"{value:.3g}"


def describe(config: pd.Series) -> str:
    """One setting in words."""
    if config["kind"] == "ema":
        return f"alpha {config['ema_alpha']:.4g}"
    return (f"switch rate {config['switch_rate_hz']:g}/s, evidence {config['evidence_per_s']:g}/s, lag {config['lag_s']:g} s, "
            f"margin {config['margin']:g}, hold {config['hold_s']:g} s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("labels", help="labels CSV (file,label[,speaker])")
    parser.add_argument("--speeches", required=True, help="glob or folder of calm unlabelled clips")
    parser.add_argument("--expressive", required=True, help="glob or folder of expressive unlabelled clips")
    parser.add_argument("--out", required=True, help="folder for tuning.csv and tuning.md")
    parser.add_argument("--overwrite", action="store_true", help="replace tuning.csv and tuning.md in --out")
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--weights", help="tune for another CNN checkpoint instead of the default model's")
    parser.add_argument("--max-switches", type=float, default=10.0, help="cap on labelled switches/min, hmm")
    parser.add_argument("--max-live-switches", type=float, default=3.0,
                        help="cap on labelled switches/min, hmm-online and ema (live: steadier than the tuned EMA's 3.4)")
    parser.add_argument("--max-speech-switches", type=float, default=6.0)
    args = parser.parse_args()
    out = Path(args.out)
    check_overwrite_or_exit([out / "tuning.csv", out / "tuning.md"], args.overwrite)
    started = time.perf_counter()
    revision = source_revision()  # before tuning.csv is written: a rerun into a tracked folder is not "changed"
    recognizer = EmotionRecognizer(weights=args.weights)
    options = VideoOptions(fps=args.fps)
    cnn = Path(args.weights) if args.weights else default_cnn_path(options.model)
    sha = file_sha256(cnn)
    classes = recognizer.classes
    labelled_set = read_clip_set(args.labels, classes)
    rows = pd.read_csv(args.labels).set_index("file")
    labelled, speakers = [], []
    for path, label in labelled_set.clips:
        if label is None:
            continue
        labelled.append((cached_trace(path, recognizer, options, sha), classes.index(label)))
        relative = str(path.relative_to(Path(args.labels).parent))
        speakers.append(rows.loc[relative, "speaker"] if "speaker" in rows.columns else "all")
    speeches, expressive = (
        trace_clip_set(read_clip_set(spec, classes), recognizer, options, sha).traces
        for spec in (args.speeches, args.expressive)
    )
    configs = [
        {"kind": kind, "switch_rate_hz": r, "evidence_per_s": e, "lag_s": lag if kind == "hmm" else 0.0, "margin": m,
         "hold_s": h, "ema_alpha": np.nan}
        for kind in ("hmm", "hmm-online") for r in SWITCH_RATES for e in EVIDENCE
        for lag in (LAGS if kind == "hmm" else (0.0,)) for m in MARGINS for h in HOLDS
    ] + [
        {"kind": "ema", "switch_rate_hz": np.nan, "evidence_per_s": np.nan, "lag_s": 0.0, "margin": DEFAULT_HYSTERESIS.margin,
         "hold_s": DEFAULT_HYSTERESIS.hold_s, "ema_alpha": a} for a in EMA_GRID
    ]  # fmt: skip
    by_speaker = list(dict.fromkeys(speakers))
    pairs, owners = speaker_pairs(labelled, speakers)
    unlabelled = speeches + expressive
    speech_mask = [True] * len(speeches) + [False] * len(expressive)
    results = []
    for config in tqdm(configs, desc="settings"):
        items = item_scores(config, labelled, pairs, unlabelled)
        row = {**config, **aggregate(items, [True] * len(labelled), [True] * len(pairs), speech_mask)}
        for name in by_speaker:
            own = aggregate(items, [s == name for s in speakers], [o == name for o in owners], speech_mask)
            row.update({f"{name}_{k}": own[k] for k in ("frame_acc", "splice_acc", "switches_per_min", "dominant_acc")})
        results.append(row)
    table = pd.DataFrame(results)
    write_text_atomic(out / "tuning.csv", table.to_csv(index=False, float_format="%.4f"))
    lines = ["# Choosing the smoothing settings on real clips", "",
             f"- Command: `python scripts/tune_smoothing.py {args.labels} --speeches \"{args.speeches}\" --expressive "
             f"\"{args.expressive}\" --out {args.out} --overwrite" + (f" --weights {args.weights}`" if args.weights else "`"),
             f"- CNN: `{cnn.name}` (sha256 {sha[:12]})",
             f"- Date: {time.strftime('%Y-%m-%d')}; code: commit {revision}; machine: {hardware_description()}",
             f"- {len(configs)} settings scored in {time.perf_counter() - started:.0f} s (all of them: `tuning.csv`)",
             f"- Rule: labelled switches/min <= {args.max_switches:g} (hmm) or <= {args.max_live_switches:g} (hmm-online, "
             f"ema) and calm-speech switches/min <= {args.max_speech_switches:g}, then the best mean of labelled and "
             "spliced frame accuracy", ""]  # fmt: skip
    columns = ["switch_rate_hz", "evidence_per_s", "lag_s", "margin", "hold_s", "ema_alpha", "frame_acc", "dominant_acc",
               "splice_acc", "splice_delay_s", "switches_per_min", "speech_switches_per_min", "expressive_switches_per_min"]  # fmt: skip
    for kind in ("hmm", "hmm-online", "ema"):
        part = table[table["kind"] == kind]
        cap = args.max_switches if kind == "hmm" else args.max_live_switches
        best = select(part, cap, args.max_speech_switches)
        lines += [f"## `{kind}`: chosen on all labelled clips", "", "| " + " | ".join(columns) + " |",
                  "|" + "---|" * len(columns), "| " + " | ".join(cell(best[c]) for c in columns) + " |", ""]  # fmt: skip
        for held in by_speaker:
            chosen_on = [s for s in by_speaker if s != held]
            pick = part.assign(**{
                "frame_acc": part[[f"{s}_frame_acc" for s in chosen_on]].mean(axis=1),
                "splice_acc": part[[f"{s}_splice_acc" for s in chosen_on]].mean(axis=1),
                "switches_per_min": part[[f"{s}_switches_per_min" for s in chosen_on]].mean(axis=1),
            })  # fmt: skip
            best_other = select(pick, cap, args.max_speech_switches)
            held_row = part.loc[best_other.name]
            lines.append(
                f"- chosen on {', '.join(chosen_on)} ({describe(best_other)}), scored on {held}: "
                f"frame accuracy {held_row[f'{held}_frame_acc']:.3f}, "
                f"dominant {held_row[f'{held}_dominant_acc']:.3f}, spliced {held_row[f'{held}_splice_acc']:.3f}, "
                f"{held_row[f'{held}_switches_per_min']:.1f} switches/min"
            )
        lines.append("")
        if kind == "ema":
            continue
        shipped, rule = default_hmm(kind), default_hysteresis(kind)
        row = part[np.isclose(part["switch_rate_hz"], shipped.switch_rate_hz)
                   & np.isclose(part["evidence_per_s"], shipped.evidence_per_s)
                   & np.isclose(part["lag_s"], shipped.lag_s if kind == "hmm" else 0.0)
                   & np.isclose(part["margin"], rule.margin) & np.isclose(part["hold_s"], rule.hold_s)]  # fmt: skip
        if len(row):
            lines += [f"The settings `{kind}` ships with (`default_hmm('{kind}')`, `default_hysteresis('{kind}')`):", "",
                      "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
                      "| " + " | ".join(cell(row.iloc[0][c]) for c in columns) + " |", ""]  # fmt: skip
    write_text_atomic(out / "tuning.md", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
