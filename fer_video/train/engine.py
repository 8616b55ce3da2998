"""One epoch of training and one pass of evaluation: short, flat functions."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from fer_video.classifier import predict_logits_and_features
from fer_video.train.distill import UNLABELLED
from fer_video.train.distributed import (
    SINGLE_PROCESS,
    DistributedContext,
    per_rank_randomness,
    reduce_sums,
    unwrap_model,
)
from fer_video.train.sam import SharpnessAwareStep
from fer_video.transforms import PreprocessConfig, TrainAugment, crops_to_tensor


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def warmup_cosine(total_steps: int, warmup_steps: int, min_ratio: float = 0.0) -> Callable[[int], float]:
    """LR multiplier per step: linear warm-up, then cosine decay to ``min_ratio``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def train_one_epoch(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    augment: TrainAugment,
    mix: Callable | None,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    device: torch.device,
    batch_size: int,
    ema: nn.Module | None = None,
    channels_last: bool = False,
    amp: bool = False,
    description: str = "train",
    context: DistributedContext = SINGLE_PROCESS,
    step_callback: Callable[[int, float], None] | None = None,
    teacher_logits: torch.Tensor | None = None,
    teacher: nn.Module | None = None,
    sam: SharpnessAwareStep | None = None,
) -> dict[str, float]:
    """One pass over ``images`` (uint8, N x H x W) in shuffled batches; returns mean loss and accuracy.

    ``batch_size`` is the global batch: with several processes (``context``) all draw the same
    permutation and each trains on its slice of every batch; loss and accuracy are summed over all.
    ``step_callback(step, loss)`` gets the optimizer step count and that step's mean loss over the global batch.
    ``teacher_logits`` (N x C, with a distillation ``criterion``): the teacher's logits per training image;
    or ``teacher``: a frozen module that scores each augmented batch itself (consistent distillation).
    Crops labelled :data:`~fer_video.train.distill.UNLABELLED` (unlabelled video) count in the loss,
    not in the accuracy. ``sam``: take each step with sharpness-aware minimisation around ``optimizer``.
    """
    model.train()
    order = torch.randperm(len(labels))
    total_loss, correct, seen, labelled = 0.0, 0.0, 0.0, 0.0
    steps = len(order) // batch_size  # drop the ragged last batch (BatchNorm needs > 1 sample)
    share = context.shard(batch_size)
    bar = tqdm(range(steps), desc=description, leave=False, unit="batch", disable=not context.is_main)
    with per_rank_randomness(context, device):
        for step in bar:
            index = order[step * batch_size : (step + 1) * batch_size][share]
            batch = augment(crops_to_tensor(images[index]).to(device, non_blocking=True))
            target = labels[index].to(device, non_blocking=True)
            mixed_target = target
            if mix is not None:
                batch, mixed_target = mix(batch, target)
            if channels_last:
                batch = batch.contiguous(memory_format=torch.channels_last)
            soft = None
            if teacher is not None:
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                    soft = teacher(batch)
            elif teacher_logits is not None:
                soft = teacher_logits[index].to(device)
            logits, loss = optimizer_step(model, batch, mixed_target, soft, criterion, optimizer, sam, amp)
            scheduler.step()
            if ema is not None:
                ema.update(unwrap_model(model), step=scheduler.last_epoch)
            step_loss, step_correct, step_seen, step_labelled = reduce_sums(
                [
                    loss.item() * len(index),
                    (logits.argmax(1) == target).sum().item(),  # never true for UNLABELLED crops
                    len(index),
                    (target != UNLABELLED).sum().item(),
                ],
                context,
                device,
            )
            total_loss, correct = total_loss + step_loss, correct + step_correct
            seen, labelled = seen + step_seen, labelled + step_labelled
            if step_callback is not None:
                step_callback(scheduler.last_epoch, step_loss / step_seen)
            bar.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{correct / max(labelled, 1):.3f}")
    return {"loss": total_loss / max(seen, 1), "acc": correct / max(labelled, 1)}


def optimizer_step(
    model: nn.Module,
    batch: torch.Tensor,
    target: torch.Tensor,
    soft_targets: torch.Tensor | None,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    sam: SharpnessAwareStep | None = None,
    amp: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward, backward and one step of ``optimizer`` on ``batch`` (through ``sam`` when given: two passes);
    ``soft_targets`` go to a distillation ``criterion``. Returns the logits and the loss at the weights the step
    started from."""

    def forward_backward() -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast(batch.device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(batch)
            extra = () if soft_targets is None else (soft_targets,)
            loss = criterion(logits.float(), target, *extra)
        loss.backward()
        return logits, loss

    if sam is not None:
        return sam.step(forward_backward)
    optimizer.zero_grad(set_to_none=True)
    result = forward_backward()
    optimizer.step()
    return result


def evaluate(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    preprocess: PreprocessConfig,
    device: torch.device,
    batch_size: int = 512,
    flip_tta: bool = False,
    context: DistributedContext = SINGLE_PROCESS,
) -> dict[str, float]:
    """Cross-entropy and accuracy on a labelled split (each process scores its share; sums are reduced)."""
    model.eval()
    share = context.shard(len(labels))
    logits, _ = predict_logits_and_features(model, images[share], preprocess, device, batch_size, flip_tta)
    target = torch.as_tensor(labels[share])
    loss_sum, correct, count = reduce_sums(
        [
            F.cross_entropy(logits, target, reduction="sum").item(),
            (logits.argmax(1) == target).sum().item(),
            len(target),
        ],
        context,
        device,
    )
    return {"loss": loss_sum / max(count, 1), "acc": correct / max(count, 1)}
