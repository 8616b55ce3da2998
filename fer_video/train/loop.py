"""The training recipe: data -> model -> epochs -> best checkpoint, resumable."""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import yaml
from sklearn.utils.class_weight import compute_class_weight
from timm.utils import ModelEmaV3
from torch import nn

from fer_video.checkpoint import file_sha256, hardware_description, load_checkpoint, save_atomic, weights_state
from fer_video.constants import CLASSES
from fer_video.data import FaceArrays, load_fer2013
from fer_video.device import use_bf16_autocast
from fer_video.models import create_model
from fer_video.train.config import TrainConfig
from fer_video.train.distributed import (
    DistributedContext,
    barrier,
    broadcast_buffers,
    distributed_session,
    main_process_first,
    wrap_model,
)
from fer_video.train.distill import UNLABELLED, DistillationLoss, load_teacher, teacher_logits, teacher_temperature
from fer_video.train.engine import evaluate, set_seed, train_one_epoch, warmup_cosine
from fer_video.train.pseudo_labels import hmm_soft_targets
from fer_video.train.real_clips import load_real_clips, score_real_clips
from fer_video.train.sam import SharpnessAwareStep
from fer_video.transforms import TrainAugment, build_mix

if TYPE_CHECKING:
    from fer_video.evaluate.clip_crops import ClipCrops


def data_fingerprint(path: str | os.PathLike) -> dict[str, Any]:
    """Name, size and a SHA-256 of the data file (folders: name only)."""
    source = Path(path)
    info: dict[str, Any] = {"name": source.name}
    if source.is_file():
        info.update(size=source.stat().st_size, sha256=file_sha256(source))
    return info


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD+Nesterov or AdamW, with no weight decay on norms and biases."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=True)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr)
    raise ValueError(f"unknown optimizer '{config.optimizer}' (expected sgd or adamw)")


def _training_split(data: dict[str, FaceArrays], config: TrainConfig) -> FaceArrays:
    train = data["training"]
    if config.max_train_samples and config.max_train_samples < len(train):
        keep = np.random.default_rng(config.seed).permutation(len(train))[: config.max_train_samples]
        train = FaceArrays(images=train.images[keep], labels=train.labels[keep])
    return train


def fit(
    config: TrainConfig,
    data_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    resume: bool = False,
    device: str = "auto",
    epoch_callback: Callable[[int, float], None] | None = None,
    step_callback: Callable[[int, float], None] | None = None,
) -> dict[str, Any]:
    """Train ``config`` on FER2013 Training, select on PublicTest; writes ``best.pt``, ``last.pt``,
    ``log.csv`` and ``config.yaml`` under ``out_dir`` (and ``epoch_NNN.pt`` per epoch with
    ``config.keep_epochs``). Returns the best epoch's metrics.

    ``epoch_callback(epoch, val_acc)`` is called after each epoch (used for tuning/pruning),
    ``step_callback(step, loss)`` after each optimizer step with the global batch's mean loss.
    Under ``torchrun`` every process calls this alike (see :mod:`fer_video.train.distributed`):
    ``config.batch_size`` is the global batch, metrics are reduced over the processes and only
    rank 0 writes files and prints.
    """
    with distributed_session(device) as (context, run_device):
        return _fit(config, data_path, Path(out_dir), resume, context, run_device, epoch_callback, step_callback)


def _fit(
    config: TrainConfig,
    data_path: str | os.PathLike,
    out: Path,
    resume: bool,
    context: DistributedContext,
    run_device: torch.device,
    epoch_callback: Callable[[int, float], None] | None,
    step_callback: Callable[[int, float], None] | None,
) -> dict[str, Any]:
    last_path, best_path, log_path = out / "last.pt", out / "best.pt", out / "log.csv"
    if not resume and last_path.exists():
        raise FileExistsError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    context.local_batch_size(config.batch_size)  # fail early if the processes cannot share the batch
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    set_seed(config.seed)

    with main_process_first(context):  # rank 0 fills the decoded-data cache, the others read it
        data = load_fer2013(data_path, splits=["training", "publictest"])
    train, val = _training_split(data, config), data["publictest"]
    weight = class_weights(train.labels, config.class_balance)
    unlabelled: ClipCrops | None = None
    if config.unlabelled_videos:
        with main_process_first(context):  # rank 0 cuts and caches the crops, the others read them
            train, unlabelled = _with_unlabelled_crops(train, config, context)
    unlabelled_crops = 0 if unlabelled is None else len(unlabelled.crops)
    images, labels = torch.from_numpy(train.images), torch.from_numpy(train.labels)
    # Only the main process scores the real clips: they are few, and it alone writes the log.
    real = None
    if config.real_clips and context.is_main:
        real = load_real_clips(config.real_clips, config.preprocess.input_size)

    model = create_model(config.model, num_classes=len(CLASSES), **config.model_kwargs)
    if config.init_from and not resume:
        _load_initial_weights(model, config)
    model = model.to(run_device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    ema = ModelEmaV3(model, decay=config.ema_decay, use_warmup=True) if config.ema_decay > 0 else None
    optimizer = build_optimizer(model, config)
    steps_per_epoch = len(labels) // config.batch_size
    schedule = warmup_cosine(
        config.epochs * steps_per_epoch, int(config.warmup_epochs * steps_per_epoch), config.min_lr_ratio
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    weight = None if weight is None else weight.to(run_device)
    criterion: nn.Module = nn.CrossEntropyLoss(weight=weight, label_smoothing=config.label_smoothing)
    soft_targets, teacher = None, None
    if config.teacher:
        criterion = DistillationLoss(config.distill_alpha, config.distill_temperature, config.label_smoothing, weight)
        if config.distill_consistent:  # the teacher scores every augmented batch itself
            teacher = load_teacher(config.teacher, config.preprocess, run_device, config.channels_last)
        else:
            with main_process_first(context):  # rank 0 computes and caches the logits, the others read them
                labelled = len(train.images) - unlabelled_crops  # Training's cached logits stay valid
                blocks = [train.images[:labelled], train.images[labelled:]]
                soft_targets = teacher_logits(config.teacher, blocks, run_device)
            if unlabelled is not None and config.unlabelled_targets == "hmm":
                soft_targets[labelled:] = hmm_soft_targets(
                    soft_targets[labelled:], unlabelled.clip, unlabelled.frame, config.unlabelled_fps,
                    teacher_temperature(config.teacher), config.distill_temperature,
                )
    augment = TrainAugment(config.augment, config.preprocess)
    mix = build_mix(config.augment, len(CLASSES))
    amp = use_bf16_autocast(run_device, config.amp, config.cpu_bf16)

    start_epoch, best_acc, best_epoch, elapsed = 0, -1.0, -1, 0.0
    best_metrics: dict[str, Any] = {}
    if resume and last_path.exists():
        state = load_checkpoint(last_path, map_location=run_device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if ema is not None and state.get("ema"):
            ema.module.load_state_dict(state["ema"])
        torch.set_rng_state(state["rng"].cpu())  # map_location may have moved it to the GPU
        start_epoch, elapsed = state["epoch"] + 1, state["elapsed_s"]
        best_acc, best_epoch, best_metrics = state["best_acc"], state["best_epoch"], state["best_metrics"]
    if context.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    parallel_model = wrap_model(model, context, run_device)  # the same module, DDP-wrapped under torchrun
    sam = SharpnessAwareStep(parallel_model, optimizer, config.sam_rho, config.sam_adaptive) if config.sam_rho else None

    meta = {
        "model": config.model,
        "model_kwargs": config.model_kwargs,
        "classes": list(CLASSES),
        "preprocess": config.preprocess.to_dict(),
        "config": config.to_dict(),
        "data": data_fingerprint(data_path),
        "unlabelled_crops": unlabelled_crops,
        "hardware": hardware_description(),
        "world_size": context.world_size,
        "bf16_autocast": amp,
    }
    patience_left = config.early_stopping_patience
    for epoch in range(start_epoch, config.epochs):
        started = time.perf_counter()
        train_stats = train_one_epoch(
            parallel_model, images, labels, augment, mix, criterion, optimizer, scheduler, run_device,
            config.batch_size, ema, config.channels_last, amp, description=f"epoch {epoch + 1}/{config.epochs}",
            context=context, step_callback=step_callback, teacher_logits=soft_targets, teacher=teacher, sam=sam,
        )
        broadcast_buffers(model, context)  # every rank scores (and rank 0 saves) rank 0's BatchNorm statistics
        val_stats = evaluate(
            model, val.images, val.labels, config.preprocess, run_device, flip_tta=config.eval_flip_tta,
            context=context,
        )
        ema_stats = {"loss": float("nan"), "acc": float("nan")}
        if ema is not None:
            broadcast_buffers(ema.module, context)
            ema_stats = evaluate(
                ema.module, val.images, val.labels, config.preprocess, run_device, flip_tta=config.eval_flip_tta,
                context=context,
            )
        real_stats = {}
        if real is not None:
            ema_module = ema.module if ema is not None else None
            real_stats = score_real_clips(real, model, ema_module, config.preprocess, run_device)
        use_ema = ema is not None and ema_stats["acc"] >= val_stats["acc"]
        scored, scored_stats = (ema.module, ema_stats) if use_ema else (model, val_stats)
        epoch_time = time.perf_counter() - started
        elapsed += epoch_time
        row = {
            "epoch": epoch + 1,
            "lr": optimizer.param_groups[0]["lr"],
            "train_loss": train_stats["loss"],
            "train_acc": train_stats["acc"],
            "val_loss": val_stats["loss"],
            "val_acc": val_stats["acc"],
            "ema_val_loss": ema_stats["loss"],
            "ema_val_acc": ema_stats["acc"],
            "epoch_time_s": epoch_time,
            "images_per_s": steps_per_epoch * config.batch_size / epoch_time,
            **real_stats,
        }
        epoch_metrics = {
            "publictest_acc": scored_stats["acc"],
            "publictest_loss": scored_stats["loss"],
            "epoch": epoch + 1,
            "weights": "ema" if use_ema else "raw",
        }
        if real_stats:
            epoch_metrics["real_clip_acc"] = real_stats["ema_real_clip_acc" if use_ema else "real_clip_acc"]
        improved = scored_stats["acc"] > best_acc
        if improved:
            best_acc, best_epoch, patience_left = scored_stats["acc"], epoch + 1, config.early_stopping_patience
            best_metrics = epoch_metrics
        else:
            patience_left -= 1
        if context.is_main:
            _append_log(log_path, row)
            print(
                f"epoch {epoch + 1}/{config.epochs}: train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f} | "
                f"PublicTest loss {row['val_loss']:.4f} acc {row['val_acc']:.4f} (EMA acc {row['ema_val_acc']:.4f}) | "
                f"{epoch_time:.0f}s{_real_clip_note(real_stats)}",
                flush=True,
            )
            if improved:
                save_atomic(
                    {"model": scored.state_dict(), "meta": {**meta, "metrics": best_metrics, "train_time_s": elapsed}},
                    best_path,
                )
            if config.keep_epochs:
                save_atomic(
                    {"model": scored.state_dict(), "meta": {**meta, "metrics": epoch_metrics, "train_time_s": elapsed}},
                    out / f"epoch_{epoch + 1:03d}.pt",
                )
            save_atomic(
                {
                    "model": model.state_dict(),
                    "ema": ema.module.state_dict() if ema is not None else {},
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "rng": torch.get_rng_state(),  # the shared stream: equal on all ranks
                    "epoch": epoch,
                    "elapsed_s": elapsed,
                    "best_acc": best_acc,
                    "best_epoch": best_epoch,
                    "best_metrics": best_metrics,
                    "meta": meta,
                },
                last_path,
            )
        barrier(context)  # the checkpoints exist before any rank goes on
        if epoch_callback is not None:
            epoch_callback(epoch + 1, scored_stats["acc"])
        if config.early_stopping_patience and patience_left <= 0:
            if context.is_main:
                print(f"early stop: no PublicTest improvement for {config.early_stopping_patience} epochs", flush=True)
            break
    return {**best_metrics, "train_time_s": elapsed, "best_checkpoint": str(best_path)}


def _with_unlabelled_crops(
    train: FaceArrays, config: TrainConfig, context: DistributedContext
) -> tuple[FaceArrays, ClipCrops]:
    """``train`` followed by the detector crops of ``config.unlabelled_videos``, labelled
    :data:`UNLABELLED`, and those crops (with the clip and frame each comes from)."""
    from fer_video.evaluate.clip_crops import CropSettings, video_crops

    size = train.images.shape[1]
    unlabelled = video_crops(
        config.unlabelled_videos, CropSettings(fps=config.unlabelled_fps, input_size=size), progress=context.is_main
    )
    crops = unlabelled.crops
    if context.is_main:
        print(f"{len(crops)} unlabelled face crops from {', '.join(config.unlabelled_videos)}", flush=True)
    images = np.concatenate([train.images, crops])
    labels = np.concatenate([train.labels, np.full(len(crops), UNLABELLED, train.labels.dtype)])
    return FaceArrays(images=images, labels=labels), unlabelled


def class_weights(labels: np.ndarray, power: float) -> torch.Tensor | None:
    """Cross-entropy weights per class: sklearn's "balanced" weights (inverse class frequency, mean
    1 over the samples) raised to ``power``; ``None`` for ``power`` 0 (unweighted)."""
    if power < 0:
        raise ValueError(f"class_balance must be >= 0, got {power}")
    if power == 0:
        return None
    balanced = compute_class_weight("balanced", classes=np.arange(len(CLASSES)), y=labels)
    return torch.tensor(balanced**power, dtype=torch.float32)


def _load_initial_weights(model: nn.Module, config: TrainConfig) -> None:
    """Start from another run's weights (its EMA weights when it kept them)."""
    state = load_checkpoint(config.init_from)
    if state["meta"].get("model") != config.model:
        raise ValueError(
            f"init_from {config.init_from} holds a '{state['meta'].get('model')}' model, not '{config.model}'"
        )
    model.load_state_dict(weights_state(state))


def _append_log(path: Path, row: dict[str, Any]) -> None:
    """Append ``row`` to the epoch log; a resumed run keeps the columns its log started with."""
    new = not path.exists()
    fields = list(row) if new else _log_header(path)
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


def _real_clip_note(stats: dict[str, float]) -> str:
    if not stats:
        return ""
    return f" | real clips {stats['real_clip_acc']:.3f} (EMA {stats['ema_real_clip_acc']:.3f})"


def _log_header(path: Path) -> list[str]:
    with path.open(newline="") as handle:
        return next(csv.reader(handle))
