"""Score smoothers on simulated clips; compare ``none``, ``ema`` and ``gru`` on held-out clips (PublicTest images)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from fer_video.checkpoint import file_sha256
from fer_video.pretrained import default_cnn_path, load_classifier
from fer_video.temporal.clips import ClipFeatures, simulated_sets
from fer_video.temporal.config import TemporalConfig
from fer_video.temporal.metrics import sequence_metrics
from fer_video.temporal.model import TemporalGRU, load_gru
from fer_video.temporal.report import write_report
from fer_video.temporal.hysteresis import HysteresisSettings, default_hysteresis, hysteresis_labels
from fer_video.temporal.smoothing import DEFAULT_EMA_ALPHA, smooth_sequence

#: EMA weights searched when matching EMA's flicker to the GRU's.
EMA_ALPHA_GRID = tuple(float(a) for a in np.round(np.geomspace(0.02, 1.0, 60), 4))
#: The bar the GRU must clear against per-frame predictions (``none``).
MIN_SPURIOUS_REDUCTION = 5.0


def clip_tensors(features: ClipFeatures, device: torch.device) -> dict[str, torch.Tensor]:
    """The clip arrays as tensors on ``device``."""
    return {
        "embeddings": torch.as_tensor(features.embeddings, device=device),
        "probs": torch.as_tensor(features.probs, device=device),
        "present": torch.as_tensor(features.present, device=device),
        "labels": torch.as_tensor(features.labels, device=device),
    }


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` intra-op threads (the GRU's matrices are too small to share out)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@torch.inference_mode()
def gru_probs(gru: TemporalGRU, features: ClipFeatures, batch_size: int = 256) -> np.ndarray:
    """Smoothed probabilities (N, T, C) of every clip, batched (same as ``smooth_sequence('gru', ...)``)."""
    gru.eval()
    device = next(gru.parameters()).device
    data = clip_tensors(features, device)
    out = []
    with torch_threads(1):
        for start in range(0, len(features), batch_size):
            part = slice(start, start + batch_size)
            logits, _ = gru(data["embeddings"][part], data["probs"][part], data["present"][part])
            out.append(logits.softmax(dim=-1).cpu().numpy())
    return np.concatenate(out)


def smoother_metrics(
    kind: str,
    features: ClipFeatures,
    gru: TemporalGRU | None = None,
    ema_alpha: float = DEFAULT_EMA_ALPHA,
    hysteresis: HysteresisSettings | None = None,
) -> dict[str, float]:
    """Metrics (see :mod:`fer_video.temporal.metrics`) of one smoother over a clip set; with
    ``hysteresis``, of the label shown under that rule rather than the top emotion."""
    interval = 1.0 / features.fps
    if kind == "gru":
        probs = gru_probs(gru, features)
    else:
        probs = np.stack(
            [
                smooth_sequence(kind, p, None, ema_alpha=ema_alpha, present=m, frame_interval_s=interval)
                for p, m in zip(features.probs, features.present)
            ]
        )
    if hysteresis is None:
        labels = probs.argmax(-1)
    else:
        labels = np.stack([hysteresis_labels(p, m, hysteresis, interval) for p, m in zip(probs, features.present)])
    return sequence_metrics(labels, features.labels, features.present, features.fps, features.probs.shape[-1])


def match_ema_alpha(features: ClipFeatures, target_spurious_per_min: float, alphas=EMA_ALPHA_GRID) -> float:
    """The smoothest EMA weight whose spurious switches per minute on ``features`` are still at least the
    target (the GRU's), so that the GRU is compared at equal or lower flicker; the least smoothing
    (largest alpha) when every EMA flickers less than the target."""
    flicker = np.asarray([smoother_metrics("ema", features, ema_alpha=a)["spurious_per_min"] for a in alphas])
    candidates = np.flatnonzero(flicker >= target_spurious_per_min)
    if len(candidates) == 0:
        return float(max(alphas))
    return float(alphas[candidates[np.argmin(flicker[candidates])]])


def compare_smoothers(
    clips: ClipFeatures, gru: TemporalGRU, ema_alphas: tuple[float, ...], matched_alpha: float
) -> pd.DataFrame:
    """One row per smoother: ``none``, ``ema`` at each alpha (``matched`` marks the one tuned on training
    clips to the GRU's flicker), ``gru``, and ``hmm-online`` and ``hmm``, each also with the shown-label
    hysteresis (what ``fer-video video`` shows)."""
    rows = [{"method": "none", "ema_alpha": None, "matched": False, **smoother_metrics("none", clips)}]
    for alpha in sorted({*ema_alphas, matched_alpha}, reverse=True):
        scores = smoother_metrics("ema", clips, ema_alpha=alpha)
        rows.append({"method": "ema", "ema_alpha": alpha, "matched": alpha == matched_alpha, **scores})
    rows.append({"method": "gru", "ema_alpha": None, "matched": False, **smoother_metrics("gru", clips, gru)})
    for kind in ("hmm-online", "hmm"):
        rows.append({"method": kind, "ema_alpha": None, "matched": False, **smoother_metrics(kind, clips)})
        shown = smoother_metrics(kind, clips, hysteresis=default_hysteresis(kind))
        rows.append({"method": f"{kind} + hysteresis", "ema_alpha": None, "matched": False, **shown})
    return pd.DataFrame(rows)


def check_bar(table: pd.DataFrame) -> dict[str, Any]:
    """The acceptance bar: the GRU cuts spurious switches >= 5x against ``none`` at no loss of frame
    accuracy, and beats the flicker-matched EMA on accuracy at equal or lower flicker."""
    none = table[table.method == "none"].iloc[0]
    gru = table[table.method == "gru"].iloc[0]
    ema = table[table.matched].iloc[0]
    reduction = none.spurious_per_min / max(gru.spurious_per_min, 1e-9)
    checks = {
        "spurious_reduction_vs_none": float(reduction),
        "frame_acc_gain_vs_none": float(gru.frame_acc - none.frame_acc),
        "frame_acc_gain_vs_matched_ema": float(gru.frame_acc - ema.frame_acc),
        "spurious_gap_vs_matched_ema": float(gru.spurious_per_min - ema.spurious_per_min),
    }
    checks["passed"] = bool(
        reduction >= MIN_SPURIOUS_REDUCTION
        and gru.frame_acc >= none.frame_acc
        and gru.frame_acc > ema.frame_acc
        and gru.spurious_per_min <= ema.spurious_per_min
    )
    return checks


def evaluate_temporal(
    config: TemporalConfig,
    data_path: str | os.PathLike,
    gru_path: str | os.PathLike | None = None,
    cnn_weights: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """Simulate the ``eval`` clips, score every smoother and write the report to ``out_dir``
    (default ``config.results_dir``): comparison.csv, comparison.md, example_clip.png, MODEL_CARD_SECTION.md."""
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    started = time.perf_counter()
    cnn = Path(cnn_weights) if cnn_weights else default_cnn_path()
    gru = load_gru(gru_path, device="cpu", cnn_weights=cnn)
    classifier = load_classifier(cnn, device=device)
    cnn_sha = file_sha256(cnn)
    clips = simulated_sets(config, data_path, classifier, cnn_sha, ["eval"])["eval"]
    clips_s = time.perf_counter() - started
    matched = float(gru.meta.get("ema_alpha_matched", config.ema_alphas[0]))
    table = compare_smoothers(clips, gru, config.ema_alphas, matched)
    checks = check_bar(table)
    timings = {"clips_s": clips_s, "total_s": time.perf_counter() - started}
    written = write_report(Path(out_dir or config.results_dir), table, checks, clips, gru, matched, timings, cnn_sha)
    return {"table": table, "bar": checks, "timings_s": timings, "written": [str(p) for p in written]}
