"""Precise BatchNorm: recompute a trained model's BatchNorm statistics on clean training images.

During training, BatchNorm's running mean and variance are a momentum average over augmented
batches taken by weights that kept changing, and a weight EMA averages the weights but not in step
with those statistics. Recomputing them once, with the final weights, over one pass through the
training images under the evaluation preprocessing (no augmentation) matches what the model sees at
test time ("precise BN", as in pycls and Detectron2). ``torch.optim.swa_utils.update_bn`` does
the averaging, in training mode as in SWA (dropout active, as when the layers were trained). No
labels and no test data are used; the weights are unchanged.

    from fer_video.train.precise_bn import recalibrate_checkpoint
    recalibrate_checkpoint("runs/x/best.pt", "runs/x/best_bn.pt", data_path="fer2013.zip")
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import update_bn
from tqdm.auto import tqdm

from fer_video.checkpoint import load_checkpoint, model_from_checkpoint, save_atomic
from fer_video.preprocess import preprocess_config
from fer_video.data import load_fer2013, require_fer2013_path
from fer_video.device import resolve_device
from fer_video.train.loop import data_fingerprint
from fer_video.transforms import EvalPreprocess, PreprocessConfig, crops_to_tensor


def has_batchnorm(model: nn.Module) -> bool:
    """Whether ``model`` has any BatchNorm layer whose statistics could be recomputed."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def _batches(
    images: np.ndarray, preprocess: EvalPreprocess, batch_size: int, device: torch.device, seed: int
) -> Iterator[torch.Tensor]:
    """Batches in a random order: data sets are often stored sorted by class, and batches of one
    class would give BatchNorm too small a variance (and distort every later layer's input)."""
    order = np.random.default_rng(seed).permutation(len(images))
    starts = range(0, len(images), batch_size)
    for start in tqdm(starts, desc="precise BN", unit="batch", leave=False):
        yield preprocess(crops_to_tensor(images[np.sort(order[start : start + batch_size])])).to(device)


def recalibrate_batchnorm(
    model: nn.Module,
    images: np.ndarray,
    preprocess: PreprocessConfig,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    seed: int = 0,
) -> nn.Module:
    """Set every BatchNorm's running statistics of ``model`` to the mean of its batch statistics
    over one pass through ``images`` (uint8 crops, evaluation preprocessing, ``batch_size`` per
    batch, shuffled with ``seed``); returns ``model`` in eval mode."""
    if len(images) == 0:
        raise ValueError("precise BN needs at least one image")
    if not has_batchnorm(model):
        raise ValueError(f"{type(model).__name__} has no BatchNorm layer to recalibrate")
    target = resolve_device(device)
    model.to(target)
    with torch.no_grad():
        update_bn(_batches(images, EvalPreprocess(preprocess), batch_size, target, seed), model)
    return model.eval()


def recalibrate_checkpoint(
    source: str | os.PathLike,
    out: str | os.PathLike,
    data_path: str | os.PathLike | None = None,
    split: str = "training",
    batch_size: int = 256,
    device: str = "auto",
    seed: int = 0,
) -> dict[str, Any]:
    """Write ``source``'s model (its EMA weights when it holds them) with BatchNorm statistics
    recomputed on FER2013 ``split`` to ``out`` (float32, atomically); returns the new payload.
    ``meta["bn_recalibration"]`` records the split, image count, batching and data fingerprint."""
    payload = load_checkpoint(source)
    if payload["meta"].get("bn_recalibration"):
        raise ValueError(f"{source} already has recalibrated BatchNorm statistics")
    data = require_fer2013_path(data_path)
    faces = load_fer2013(data, splits=[split])[split]
    model, meta = model_from_checkpoint(payload)
    recalibrate_batchnorm(model, faces.images, preprocess_config(meta), batch_size, device, seed)
    record = {
        "split": split, "images": len(faces), "batch_size": batch_size, "seed": seed, "data": data_fingerprint(data)
    }
    release = {
        "model": {name: t.detach().cpu() for name, t in model.state_dict().items()},
        "meta": {**{k: v for k, v in meta.items() if k != "stored_dtype"}, "bn_recalibration": record},
    }
    save_atomic(release, out)
    return release
