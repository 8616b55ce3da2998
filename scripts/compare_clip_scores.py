"""How sure is a difference on the labelled real clips? Per-clip frame accuracy of two models, paired by clip,
with a bootstrap over clips of the mean difference.

Each input is an `fer-video eval-crops --per-clip` JSON (``PATH::CHECKPOINT`` picks one of its checkpoints;
default: its first) or an `fer-video eval-video` clips.csv (``PATH::SMOOTHING``; default: hmm). Clips are
resampled with replacement, so the interval says how much the mean difference depends on which clips were
filmed; with 14 clips of two speakers it is wide.

    python scripts/compare_clip_scores.py results/real_video_epyc_avx512/clips.csv runs/real_video_lean/clips.csv
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("baseline", help="PATH or PATH::NAME (eval-crops JSON or eval-video clips.csv)")
    parser.add_argument("candidate", help="PATH or PATH::NAME, scored on the same clips")
    parser.add_argument("--resamples", type=int, default=20000, help="bootstrap resamples of the clips")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def clip_accuracies(spec: str) -> pd.Series:
    """Frame accuracy per labelled clip (indexed by clip file name) from an eval-crops JSON or eval-video CSV."""
    path_text, _, name = spec.partition("::")
    path = Path(path_text)
    if not path.is_file():
        raise SystemExit(f"error: {path} not found")
    if path.suffix == ".json":
        scores = json.loads(path.read_text()).get("scores", {})
        if not scores:
            raise SystemExit(f"error: {path} holds no scores (write it with `fer-video eval-crops --per-clip`)")
        key = name or next(iter(scores))
        if key not in scores or "clips" not in scores[key]:
            raise SystemExit(f"error: {path} has no per-clip scores for {key!r}; it has: {', '.join(scores)}")
        clips = scores[key]["clips"]
        return pd.Series({clip["file"]: clip["frame_accuracy"] for clip in clips if clip["frame_accuracy"] is not None})
    table = pd.read_csv(path)
    if not {"clip", "smoothing", "frame_acc"} <= set(table.columns):
        raise SystemExit(f"error: {path} is not an eval-video clips.csv (columns clip, smoothing, frame_acc)")
    smoothing = name or "hmm"
    rows = table[(table["smoothing"] == smoothing) & table["frame_acc"].notna()]
    if rows.empty:
        raise SystemExit(f"error: {path} has no labelled clips scored with smoothing {smoothing!r}")
    return rows.set_index("clip")["frame_acc"]


def paired_bootstrap(differences: np.ndarray, resamples: int, seed: int) -> dict[str, float]:
    """Mean of ``differences`` and the 2.5 / 97.5 percentiles of its bootstrap over them, and the share of
    resampled means at or below 0."""
    rng = np.random.default_rng(seed)
    means = differences[rng.integers(0, len(differences), (resamples, len(differences)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"mean": float(differences.mean()), "low": float(low), "high": float(high),
            "share_at_or_below_0": float((means <= 0).mean())}


def main(args: argparse.Namespace) -> None:
    baseline, candidate = clip_accuracies(args.baseline), clip_accuracies(args.candidate)
    common = baseline.index.intersection(candidate.index)
    if common.empty:
        raise SystemExit("error: the two inputs share no labelled clip")
    differences = (baseline[common] - candidate[common]).to_numpy(dtype=float)
    print("| clip | baseline | candidate | difference |\n|---|---:|---:|---:|")
    for clip, difference in zip(common, differences):
        print(f"| {clip} | {baseline[clip]:.3f} | {candidate[clip]:.3f} | {difference:+.3f} |")
    result = paired_bootstrap(differences, args.resamples, args.seed)
    print(
        f"\n{len(common)} clips: mean frame accuracy {baseline[common].mean():.3f} (baseline) against "
        f"{candidate[common].mean():.3f} (candidate); difference {result['mean']:+.3f}, 95 % bootstrap interval over "
        f"clips [{result['low']:+.3f}, {result['high']:+.3f}]; {result['share_at_or_below_0']:.1%} of resamples at or below 0"
    )


if __name__ == "__main__":
    main(get_args_parser().parse_args())
