"""Training the temporal GRU on real video: the two-sided HMM distilled into the causal GRU.

Real clips have no frame labels, but the two-sided ``hmm`` (it looks ahead) is the best smoother on
the labelled real dev clips. Its posteriors over unlabelled real clips are soft targets for the
causal GRU, which sees past frames only. Each training window's targets are the HMM run over that
window alone, so that student and teacher start from the same frame. The epoch is chosen on
labelled real clips (frame accuracy of the shown label, switches per minute); the per-speaker
figures of every epoch are logged, so that an epoch chosen on one speaker can be scored on another.

Inputs are the traces ``fer-video eval-video`` caches (:func:`fer_video.video.evaluation.cached_trace`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from fer_video.temporal.clips import ClipFeatures
from fer_video.temporal.config import RealTracesConfig, TemporalConfig
from fer_video.temporal.hmm import HmmSettings, fixed_lag_posteriors
from fer_video.temporal.model import TemporalGRU
from fer_video.train.engine import set_seed, warmup_cosine
from fer_video.video.evaluation import ClipTrace, clip_scores, smoothed_labels, switches


@dataclass(frozen=True)
class RealWindows:
    """N windows of T frames of real traces: CNN ``embeddings`` (N, T, D), ``probs`` (N, T, C),
    ``present`` (N, T) (False also past a short clip's end) and the teacher's ``targets`` (N, T, C)."""

    embeddings: np.ndarray
    probs: np.ndarray
    present: np.ndarray
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.present)


@dataclass
class RealClips:
    """The real clips of a recipe: ``unlabelled`` traces per glob, and the labelled clips (trace,
    class index, speaker) that choose the epoch."""

    unlabelled: dict[str, list[ClipTrace]]
    labelled: list[tuple[ClipTrace, int, str]]

    @property
    def speakers(self) -> list[str]:
        return list(dict.fromkeys(speaker for _, _, speaker in self.labelled))


def teacher_settings(config: RealTracesConfig) -> HmmSettings:
    return HmmSettings(config.teacher_switch_rate_hz, config.teacher_evidence_per_s, config.teacher_lag_s)


def trace_windows(traces: Sequence[ClipTrace], config: RealTracesConfig) -> RealWindows:
    """Windows of ``config.window_seconds`` every ``config.stride_seconds`` over each trace (a trace
    shorter than a window gives one, padded as absent), each with the two-sided HMM's posteriors over
    that window as targets."""
    if not traces:
        raise ValueError("real_traces: no unlabelled traces to train on")
    frames = max(1, round(config.window_seconds * config.fps))
    stride = max(1, round(config.stride_seconds * config.fps))
    teacher = teacher_settings(config)
    dim, classes = traces[0].embeddings.shape[1], traces[0].probs.shape[1]
    rows: dict[str, list[np.ndarray]] = {"embeddings": [], "probs": [], "present": [], "targets": []}
    for trace in traces:
        length = len(trace.times)
        for start in range(0, max(length - frames, 0) + 1, stride):
            part = slice(start, min(start + frames, length))
            kept = part.stop - part.start
            present = np.zeros(frames, bool)
            present[:kept] = trace.present[part]
            targets = np.full((frames, classes), 1.0 / classes, np.float32)
            targets[:kept] = fixed_lag_posteriors(trace.probs[part], trace.present[part], teacher, trace.interval_s)
            for key, values, size in (("embeddings", trace.embeddings, dim), ("probs", trace.probs, classes)):
                padded = np.zeros((frames, size), np.float32)
                padded[:kept] = values[part]
                rows[key].append(padded)
            rows["present"].append(present)
            rows["targets"].append(targets)
    return RealWindows(**{key: np.stack(values) for key, values in rows.items()})


def load_real_clips(config: RealTracesConfig, recognizer, options, cnn_sha256: str) -> RealClips:
    """The recipe's traces, from the eval-video cache (clips not in it are analysed now). ``options``:
    the :class:`~fer_video.video.VideoOptions` the traces were made with (same CNN)."""
    from fer_video.video.evaluation import cached_trace, read_clip_set, trace_clip_set

    classes = recognizer.classes
    unlabelled = {
        spec: trace_clip_set(read_clip_set(spec, classes), recognizer, options, cnn_sha256).traces
        for spec in config.unlabelled
    }
    table = pd.read_csv(config.labels)
    speakers = dict(zip(table["file"], table["speaker"] if "speaker" in table.columns else ["all"] * len(table)))
    labelled = []
    for path, label in read_clip_set(config.labels, classes).clips:
        if label is not None:
            speaker = str(speakers[str(path.relative_to(Path(config.labels).parent))])
            labelled.append((cached_trace(path, recognizer, options, cnn_sha256), classes.index(label), speaker))
    if not labelled:
        raise ValueError(f"{config.labels}: no clip is labelled with one of {classes}")
    return RealClips(unlabelled, labelled)


def distillation_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    present: torch.Tensor,
    smoothness_weight: float,
    smoothness_temperature: float = 0.2,
) -> torch.Tensor:
    """Cross-entropy against the teacher's soft ``targets`` on present frames, plus
    ``smoothness_weight`` times the soft count of label switches (as in
    :func:`fer_video.temporal.train.temporal_loss`) between present neighbours the teacher gives the
    same top emotion."""
    loss = -(targets * logits.log_softmax(dim=-1)).sum(dim=-1)[present].mean()
    if smoothness_weight > 0:
        sharp = (logits / smoothness_temperature).softmax(dim=-1)
        moved = (sharp[:, 1:] - sharp[:, :-1]).abs().sum(dim=-1) / 2
        top = targets.argmax(dim=-1)
        same = (top[:, 1:] == top[:, :-1]) & present[:, 1:] & present[:, :-1]
        if same.any():
            loss = loss + smoothness_weight * moved[same].mean()
    return loss


def real_scores(gru: TemporalGRU, clips: RealClips) -> dict[str, float]:
    """The shown label's figures under ``gru`` smoothing (with its default hysteresis): on the labelled
    clips, all and per speaker, mean frame accuracy, dominant label right and switches per minute
    (pooled); on each unlabelled set, switches per minute."""
    gru.eval()
    rows = []
    for trace, truth, speaker in clips.labelled:
        shown = smoothed_labels(trace, "gru", gru)
        rows.append({"speaker": speaker, "minutes": trace.duration_s / 60, "switches": switches(shown, trace.present),
                     **clip_scores(trace, shown, truth, gru.num_classes)})  # fmt: skip
    table = pd.DataFrame(rows)
    scores: dict[str, float] = {}
    for name, part in [("", table), *((f"{s}_", table[table.speaker == s]) for s in clips.speakers)]:
        scores[f"{name}frame_acc"] = float(part["frame_acc"].mean())
        scores[f"{name}dominant_acc"] = float(part["dominant_ok"].mean())
        scores[f"{name}switches_per_min"] = float(part["switches"].sum() / part["minutes"].sum())
    for spec, traces in clips.unlabelled.items():
        total = sum(switches(smoothed_labels(t, "gru", gru), t.present) for t in traces)
        scores[f"switches_per_min[{spec}]"] = total / (sum(t.duration_s for t in traces) / 60)
    return scores


def choose_epoch(log: Sequence[dict[str, Any]], cap: float, speaker: str = "") -> int:
    """The epoch (1-based) with the best frame accuracy (on ``speaker``'s clips, or all) among those
    whose switches per minute there stay at most ``cap``; if none does, the one with the fewest."""
    prefix = f"{speaker}_" if speaker else ""
    ok = [row for row in log if row[f"{prefix}switches_per_min"] <= cap]
    if ok:
        return max(ok, key=lambda r: (r[f"{prefix}frame_acc"], -r[f"{prefix}switches_per_min"]))["epoch"]
    return min(log, key=lambda r: (r[f"{prefix}switches_per_min"], -r[f"{prefix}frame_acc"]))["epoch"]


def leave_one_speaker_out(log: Sequence[dict[str, Any]], speakers: Sequence[str], cap: float) -> list[dict[str, Any]]:
    """For each speaker held out: the epoch chosen on the other speakers' clips (one other only) and
    the held-out speaker's figures at that epoch."""
    out = []
    for held in speakers:
        others = [s for s in speakers if s != held]
        if len(others) != 1:
            continue
        epoch = choose_epoch(log, cap, others[0])
        row = log[epoch - 1]
        out.append({"held_out": held, "chosen_on": others[0], "epoch": epoch,
                    **{key: row[f"{held}_{key}"] for key in ("frame_acc", "dominant_acc", "switches_per_min")}})  # fmt: skip
    return out


def fit_real(
    windows: RealWindows,
    clips: RealClips,
    config: TemporalConfig,
    simulated: ClipFeatures | None = None,
) -> tuple[TemporalGRU, list[dict[str, Any]], int]:
    """Train a GRU on real ``windows`` (and ``simulated`` clips, if any); return it at the chosen
    epoch (:func:`choose_epoch` on all labelled clips), with the per-epoch log and that epoch."""
    from fer_video.temporal.train import gradient_step, temporal_loss

    real = config.real_traces
    set_seed(config.seed)
    dim, classes = windows.embeddings.shape[-1], windows.probs.shape[-1]
    model = TemporalGRU(dim, classes, config.hidden_size, config.dropout)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    data = {key: torch.as_tensor(getattr(windows, key)) for key in ("embeddings", "probs", "present", "targets")}
    sim = None if simulated is None else {key: torch.as_tensor(getattr(simulated, key))
                                          for key in ("embeddings", "probs", "present", "labels")}  # fmt: skip
    sim_batch = 0 if sim is None else max(1, round(config.batch_size * len(simulated) / len(windows)))
    steps = -(-len(windows) // config.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(config.epochs * steps, steps))
    log, states = [], []
    for epoch in tqdm(range(config.epochs), desc="train GRU on real traces", unit="epoch"):
        model.train()
        total = 0.0
        sim_order = torch.randperm(len(simulated)) if sim is not None else None
        for step, index in enumerate(torch.randperm(len(windows)).split(config.batch_size)):
            batch = {key: value[index] for key, value in data.items()}
            logits, _ = model(batch["embeddings"], batch["probs"], batch["present"])
            loss = distillation_loss(logits, batch["targets"], batch["present"], config.smoothness_weight,
                                     config.smoothness_temperature)  # fmt: skip
            if sim is not None:
                part = sim_order[step * sim_batch : (step + 1) * sim_batch]
                if len(part):
                    clip = {key: value[part] for key, value in sim.items()}
                    sim_logits, _ = model(clip["embeddings"], clip["probs"], clip["present"])
                    loss = loss + real.simulated_weight * temporal_loss(
                        sim_logits, clip["labels"], clip["present"], config.smoothness_weight,
                        config.smoothness_temperature,
                    )  # fmt: skip
            gradient_step(model, optimizer, scheduler, loss)
            total += loss.item() * len(index)
        log.append({"epoch": epoch + 1, "train_loss": total / len(windows), **real_scores(model, clips)})
        states.append(copy.deepcopy(model.state_dict()))
    chosen = choose_epoch(log, real.max_switches_per_min)
    model.load_state_dict(states[chosen - 1])
    return model.eval(), log, chosen


def write_real_report(
    folder: Path, gru_path: Path, log: Sequence[dict[str, Any]], epoch: int, loso: Sequence[dict[str, Any]],
    timings: dict[str, float], revision: str,
) -> Path:
    """``training.md`` in ``folder``: every epoch's figures on the real clips, the epoch kept and the
    leave-one-speaker-out figures; ``revision``: the code's commit, taken before the run wrote anything."""
    import sys
    import time

    from fer_video.checkpoint import hardware_description
    from fer_video.evaluate.outputs import write_text_atomic

    lines = ["# Temporal GRU trained on real traces", "",
             f"- Command: `fer-video {' '.join(sys.argv[1:])}` -> `{gru_path}`",
             f"- Date: {time.strftime('%Y-%m-%d')}; code: commit {revision}; machine: {hardware_description()}; "
             f"{timings['total_s']:.0f} s in all ({timings['train_s']:.0f} s training)",
             "- Figures: the shown label (default hysteresis) of the main track under `gru` smoothing; frame accuracy "
             "and dominant label on the labelled clips, switches per minute pooled over each set's clips", "",
             f"Epoch kept: {epoch}.", "", "| held out | chosen on | epoch | frame acc | dominant right | switches / min |",
             "|---|---|---:|---:|---:|---:|"]  # fmt: skip
    lines += [f"| {r['held_out']} | {r['chosen_on']} | {r['epoch']} | {r['frame_acc']:.3f} | {r['dominant_acc']:.3f} | "
              f"{r['switches_per_min']:.1f} |" for r in loso]  # fmt: skip
    lines += ["", "Every epoch:", "", log_table(log), ""]
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder / "training.md", "\n".join(lines))
    return folder / "training.md"


def log_table(log: Sequence[dict[str, Any]]) -> str:
    """The per-epoch log as a markdown table."""
    columns = list(log[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c]) for c in columns) + " |"
              for row in log]  # fmt: skip
    return "\n".join(lines)

