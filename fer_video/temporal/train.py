"""Train the temporal GRU on simulated clips' CNN outputs (and, with a ``real_traces`` section, on real
video: :mod:`fer_video.temporal.real_traces`), and match EMA's flicker to it."""

from __future__ import annotations

import copy
import os
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from fer_video.checkpoint import file_sha256, hardware_description
from fer_video.constants import CLASSES
from fer_video.pretrained import DEFAULT_MODEL, default_cnn_path, default_gru_path, load_classifier
from fer_video.temporal.clips import ClipFeatures, simulated_sets
from fer_video.temporal.config import TemporalConfig
from fer_video.temporal.evaluate import (
    clip_tensors,
    match_ema_alpha,
    smoother_metrics,
    torch_threads,
)
from fer_video.temporal.model import TemporalGRU, save_gru
from fer_video.train.engine import set_seed, warmup_cosine


def temporal_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    present: torch.Tensor,
    smoothness_weight: float,
    smoothness_temperature: float = 0.2,
) -> torch.Tensor:
    """Cross-entropy on present frames plus ``smoothness_weight`` times a soft count of label switches:
    the total-variation distance between neighbouring frames' sharpened distributions
    ``softmax(logits / smoothness_temperature)``, over neighbours of the same true emotion. A low
    temperature makes it close to "did the top label change", which a plain probability penalty
    barely sees when two classes are nearly tied."""
    loss = F.cross_entropy(logits[present], labels[present])
    if smoothness_weight > 0:
        sharp = (logits / smoothness_temperature).softmax(dim=-1)
        switches = (sharp[:, 1:] - sharp[:, :-1]).abs().sum(dim=-1) / 2
        same = labels[:, 1:] == labels[:, :-1]
        loss = loss + smoothness_weight * switches[same].mean()
    return loss


def gradient_step(model: torch.nn.Module, optimizer, scheduler, loss: torch.Tensor) -> None:
    """One optimisation step on ``loss``: gradients clipped to norm 1, then the scheduler's step."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()


def fit_gru(
    fit: ClipFeatures, val: ClipFeatures, config: TemporalConfig, device: torch.device
) -> tuple[TemporalGRU, list[dict[str, float]]]:
    """Train a GRU on ``fit`` and return it with the per-epoch log. The epoch kept is the one with the best
    frame accuracy on ``val`` among those that cut spurious label switches on ``val`` at least
    ``config.min_spurious_reduction`` times against ``none``; if no epoch does, the one that cuts them most."""
    with torch_threads(1):  # the GRU's matrices are too small to share out
        return _fit_gru(fit, val, config, device)


def _fit_gru(
    fit: ClipFeatures, val: ClipFeatures, config: TemporalConfig, device: torch.device
) -> tuple[TemporalGRU, list[dict[str, float]]]:
    set_seed(config.seed)
    model = TemporalGRU(fit.embeddings.shape[-1], fit.probs.shape[-1], config.hidden_size, config.dropout).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = -(-len(fit) // config.batch_size)
    schedule = warmup_cosine(config.epochs * steps_per_epoch, steps_per_epoch)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    data = clip_tensors(fit, device)
    none_spurious = smoother_metrics("none", val)["spurious_per_min"]
    best_key, best_state, log = None, None, []
    bar = tqdm(range(config.epochs), desc="train GRU", unit="epoch")
    for epoch in bar:
        model.train()
        total = 0.0
        for index in torch.randperm(len(fit)).split(config.batch_size):
            batch = {k: v[index.to(device)] for k, v in data.items()}
            logits, _ = model(batch["embeddings"], batch["probs"], batch["present"])
            loss = temporal_loss(
                logits, batch["labels"], batch["present"], config.smoothness_weight, config.smoothness_temperature
            )
            gradient_step(model, optimizer, scheduler, loss)
            total += loss.item() * len(index)
        scores = smoother_metrics("gru", val, model)
        reduction = none_spurious / max(scores["spurious_per_min"], 1e-9)
        log.append(
            {
                "epoch": epoch + 1,
                "train_loss": total / len(fit),
                "val_spurious_reduction": reduction,
                **{f"val_{k}": v for k, v in scores.items()},
            }
        )
        reached = reduction >= config.min_spurious_reduction
        key = (reached, scores["frame_acc"] if reached else reduction)
        if best_key is None or key > best_key:
            best_key, best_state = key, copy.deepcopy(model.state_dict())
        bar.set_postfix(loss=f"{total / len(fit):.3f}", val_acc=f"{scores['frame_acc']:.3f}", fewer=f"{reduction:.1f}x")
    model.load_state_dict(best_state)
    return model.eval(), log


def train_temporal(
    config: TemporalConfig,
    data_path: str | os.PathLike,
    out_path: str | os.PathLike | None = None,
    cnn_weights: str | os.PathLike | None = None,
    device: str = "auto",
    overwrite: bool = False,
    model: str = DEFAULT_MODEL,
) -> dict[str, Any]:
    """The whole recipe: simulate ``fit``/``val`` clips, run the CNN, train the GRU, match EMA to its flicker
    on ``val``, and save ``{"model", "meta"}`` to ``out_path`` (default ``models/emotion_gru.pt``). With
    ``config.real_traces``: :func:`train_on_real` instead (``model``: the shipped model whose traces are read)."""
    out = Path(out_path) if out_path else default_gru_path(model)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    cnn = Path(cnn_weights) if cnn_weights else default_cnn_path(model)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    if config.real_traces is not None:
        return train_on_real(config, data_path, out, cnn, model, device)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    classifier = load_classifier(cnn, device=device)
    if list(classifier.classes) != list(CLASSES):
        raise ValueError(f"the CNN's classes {classifier.classes} differ from fer-video's {CLASSES}")
    cnn_sha = file_sha256(cnn)
    sets = simulated_sets(config, data_path, classifier, cnn_sha, ["fit", "val"])
    timings["clips_s"] = time.perf_counter() - started

    mark = time.perf_counter()
    model, log = fit_gru(sets["fit"], sets["val"], config, torch.device("cpu"))
    timings["train_s"] = time.perf_counter() - mark

    mark = time.perf_counter()
    val_gru = smoother_metrics("gru", sets["val"], model)
    val_none = smoother_metrics("none", sets["val"])
    alpha = match_ema_alpha(sets["val"], val_gru["spurious_per_min"])
    timings["ema_match_s"] = time.perf_counter() - mark
    timings["total_s"] = time.perf_counter() - started
    meta = {
        "embed_dim": model.embed_dim,
        "hidden_size": model.hidden_size,
        "dropout": config.dropout,
        "classes": list(classifier.classes),
        "fps": config.simulation.fps,
        "simulation": asdict(config.simulation),
        "config": config.to_dict(),
        "cnn_sha256": cnn_sha,
        "cnn_file": cnn.name,
        "ema_alpha_matched": alpha,
        "metrics": {"val_gru": val_gru, "val_none": val_none},
        "log": log,
        "timings_s": timings,
        "hardware": hardware_description(),
    }
    save_gru(model, meta, out)
    return {"out": str(out), "ema_alpha_matched": alpha, "val_gru": val_gru, "val_none": val_none, "timings_s": timings}


def train_on_real(
    config: TemporalConfig, data_path: str | os.PathLike, out: Path, cnn: Path, model: str, device: str
) -> dict[str, Any]:
    """The real-video recipe (:mod:`fer_video.temporal.real_traces`): windows of the unlabelled clips'
    traces with the two-sided HMM's posteriors as targets (plus ``simulated_clips`` simulated ``fit``
    clips), the epoch chosen on the labelled clips; the per-epoch log and the leave-one-speaker-out
    figures go into the GRU's meta."""
    from fer_video.recognizer import EmotionRecognizer
    from fer_video.temporal.real_traces import (
        fit_real, leave_one_speaker_out, load_real_clips, trace_windows, write_real_report,
    )  # fmt: skip
    from fer_video.video import VideoOptions

    from fer_video.provenance import source_revision

    revision = source_revision()  # before the GRU file (perhaps a tracked one) is written
    real = config.real_traces
    timings: dict[str, float] = {}
    started = time.perf_counter()
    cnn_sha = file_sha256(cnn)
    shipped = cnn.resolve() == default_cnn_path(model).resolve()
    recognizer = EmotionRecognizer(weights=None if shipped else cnn, model=model)
    clips = load_real_clips(real, recognizer, VideoOptions(fps=real.fps, model=model), cnn_sha)
    windows = trace_windows([t for traces in clips.unlabelled.values() for t in traces], real)
    simulated = None
    if real.simulated_clips:
        sim_config = replace(config, train_clips=real.simulated_clips)
        classifier = load_classifier(cnn, device=device)
        simulated = simulated_sets(sim_config, data_path, classifier, cnn_sha, ["fit"])["fit"]
    timings["clips_s"] = time.perf_counter() - started
    mark = time.perf_counter()
    with torch_threads(1):
        gru, log, epoch = fit_real(windows, clips, config, simulated)
    timings["train_s"] = time.perf_counter() - mark
    timings["total_s"] = time.perf_counter() - started
    loso = leave_one_speaker_out(log, clips.speakers, real.max_switches_per_min)
    meta = {
        "embed_dim": gru.embed_dim,
        "hidden_size": gru.hidden_size,
        "dropout": config.dropout,
        "classes": list(recognizer.classes),
        "fps": real.fps,
        "config": config.to_dict(),
        "cnn_sha256": cnn_sha,
        "cnn_file": cnn.name,
        "real_windows": len(windows),
        "chosen_epoch": epoch,
        "metrics": {"real": log[epoch - 1]},
        "leave_one_speaker_out": loso,
        "log": log,
        "timings_s": timings,
        "hardware": hardware_description(),
    }
    save_gru(gru, meta, out)
    report = write_real_report(Path(config.results_dir), out, log, epoch, loso, timings, revision)
    return {"out": str(out), "report": str(report), "chosen_epoch": epoch, "real": log[epoch - 1], "leave_one_speaker_out": loso,
            "timings_s": timings}  # fmt: skip
