"""Class probabilities with optional test-time augmentation: none, horizontal flip, or ten-crop."""

from __future__ import annotations

import numpy as np
import torch
from torchvision.transforms.v2 import functional as TF
from tqdm.auto import tqdm

from fer_video.classifier import CropClassifier, predict_logits_and_features
from fer_video.transforms import EvalPreprocess, crops_to_tensor

TTA_MODES: tuple[str, ...] = ("none", "flip", "tencrop")

#: Ten-crop side as a fraction of the face's side: 44 px of a 48 px FER2013 crop.
TEN_CROP_FRACTION = 44 / 48


def ten_crop_views(batch: torch.Tensor, fraction: float = TEN_CROP_FRACTION) -> tuple[torch.Tensor, ...]:
    """The 4 corner crops and the centre crop of a (B, C, H, W) batch, then the same 5 of its mirror image.

    Each crop is ``fraction`` of the side; resizing back to the model's input size is left to
    :class:`~fer_video.transforms.EvalPreprocess`.
    """
    height, width = batch.shape[-2:]
    size = [max(1, round(height * fraction)), max(1, round(width * fraction))]
    return tuple(TF.ten_crop(batch, size))


@torch.inference_mode()
def _ten_crop_proba(classifier: CropClassifier, crops: np.ndarray) -> np.ndarray:
    normalise = EvalPreprocess(classifier.preprocess)
    batch = crops_to_tensor(crops).to(classifier.device)
    views = ten_crop_views(batch)
    probs = [classifier.probabilities(classifier.model(normalise(view)).float().cpu().numpy()) for view in views]
    return np.mean(probs, axis=0)


def _plain_proba(classifier: CropClassifier, crops: np.ndarray, flip: bool) -> np.ndarray:
    logits, _ = predict_logits_and_features(
        classifier.model, crops, classifier.preprocess, classifier.device, len(crops), flip_tta=flip
    )
    return classifier.probabilities(logits.numpy())


def predict_proba(
    classifier: CropClassifier, crops: np.ndarray, tta: str = "none", batch_size: int = 256, progress: bool = True
) -> np.ndarray:
    """Probabilities (N, C) for uint8 face crops (N, H, W[, 3]), at the checkpoint's softmax temperature.

    ``tta``: ``none``; ``flip`` (logits of the crop and its mirror averaged); ``tencrop``
    (probabilities of the 10 :func:`ten_crop_views` averaged).
    """
    if tta not in TTA_MODES:
        raise ValueError(f"unknown test-time augmentation '{tta}'; expected one of {list(TTA_MODES)}")
    chunks = []
    starts = range(0, len(crops), batch_size)
    for start in tqdm(starts, desc=f"predict ({tta})", unit="batch", leave=False, disable=not progress):
        chunk = crops[start : start + batch_size]
        if tta == "tencrop":
            chunks.append(_ten_crop_proba(classifier, chunk))
        else:
            chunks.append(_plain_proba(classifier, chunk, flip=tta == "flip"))
    if not chunks:
        return np.zeros((0, len(classifier.classes)), dtype=np.float32)
    return np.concatenate(chunks)
