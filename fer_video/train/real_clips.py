"""Scoring a training run's weights on the detector crops of labelled real clips, epoch by epoch.

PublicTest stills have ranked CNNs differently from real video; with ``real_clips`` in a recipe, every
epoch's raw and EMA weights are also scored on the crops of labelled clips (cut once by the project's
own detector and aligner and cached: :mod:`fer_video.evaluate.clip_crops`), so that epochs can be
chosen on both. The score is the mean over clips of the per-frame accuracy of the CNN alone.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from fer_video.classifier import predict_logits_and_features
from fer_video.evaluate.clip_crops import ClipCrops, CropSettings, clip_crops, score_probabilities
from fer_video.transforms import PreprocessConfig

def load_real_clips(labels_csv: str | os.PathLike, input_size: int) -> ClipCrops:
    """The aligned crops (``input_size`` px) of the clips listed in ``labels_csv``, cut now or read from the cache."""
    try:
        crops = clip_crops(labels_csv, CropSettings(input_size=input_size), progress=True)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"real_clips: {error}") from None
    if len(crops.crops) == 0:
        raise ValueError(f"real_clips: no face was found in the clips of {labels_csv}")
    return crops


def real_clip_accuracy(model: nn.Module, crops: ClipCrops, preprocess: PreprocessConfig, device: torch.device) -> float:
    """Mean per-clip frame accuracy of ``model`` (put in eval mode) on ``crops``."""
    model.eval()
    logits, _ = predict_logits_and_features(model, crops.crops, preprocess, device)
    return score_probabilities(crops, logits.softmax(dim=1).numpy()).summary["mean_clip_frame_accuracy"]


def score_real_clips(
    crops: ClipCrops, model: nn.Module, ema: nn.Module | None, preprocess: PreprocessConfig, device: torch.device
) -> dict[str, float]:
    """One epoch's ``log.csv`` columns: ``real_clip_acc`` (raw weights) and ``ema_real_clip_acc`` (NaN without EMA)."""
    return {
        "real_clip_acc": real_clip_accuracy(model, crops, preprocess, device),
        "ema_real_clip_acc": float("nan") if ema is None else real_clip_accuracy(ema, crops, preprocess, device),
    }
