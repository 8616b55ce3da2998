"""The softmax with a calibration temperature that inference and calibration both use."""

from __future__ import annotations

import numpy as np


def calibrated_softmax(logits: np.ndarray, temperature: float | None, dtype: type = np.float32) -> np.ndarray:
    """``softmax(logits / temperature)`` over the last axis, computed in ``dtype`` (float32 for
    inference, float64 for calibration metrics); plain softmax when ``temperature`` is ``None``."""
    scaled = np.asarray(logits, dtype)
    if temperature is not None:
        scaled = scaled / dtype(temperature)
    exponentials = np.exp(scaled - scaled.max(axis=-1, keepdims=True))
    return exponentials / exponentials.sum(axis=-1, keepdims=True)
