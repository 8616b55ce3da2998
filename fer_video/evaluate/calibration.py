"""Temperature scaling: one scalar T such that ``softmax(logits / T)`` says how often it is right.

:func:`fit_temperature` minimises the negative log-likelihood of ``logits / T`` (a bounded 1-D
search over log T); :func:`expected_calibration_error` is the top-label ECE over equal-width
confidence bins (Guo et al., 2017), and :func:`ece_noise_floor` the ECE that sampling alone gives;
:func:`split_half_check` fits on one random half and scores the other, to show that T is not
fitted to noise.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

from fer_video.probabilities import calibrated_softmax

#: Equal-width confidence bins of the expected calibration error.
ECE_BINS = 15
#: The range T is searched in.
TEMPERATURE_BOUNDS = (0.05, 20.0)


def _check(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    logits, labels = np.asarray(logits, dtype=np.float64), np.asarray(labels)
    if logits.ndim != 2 or len(logits) == 0 or labels.shape != (len(logits),):
        raise ValueError(f"expected logits (N, C) and labels (N,) with N > 0, got {logits.shape} and {labels.shape}")
    if labels.min() < 0 or labels.max() >= logits.shape[1]:
        raise ValueError(f"labels must lie in 0..{logits.shape[1] - 1}")
    return logits, labels.astype(np.int64)


def negative_log_likelihood(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean ``-log softmax(logits / temperature)[label]``."""
    logits, labels = _check(logits, labels)
    log_probs = log_softmax(logits / temperature, axis=1)
    return float(-log_probs[np.arange(len(labels)), labels].mean())


def reliability_bins(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> dict[str, list[float]]:
    """Per equal-width bin of top-label confidence (``lower < confidence <= upper``; the first bin
    also takes 0): ``count``, mean ``confidence`` and ``accuracy`` (0 for an empty bin)."""
    probs, labels = _check(probs, labels)
    return confidence_bins(probs.max(axis=1), probs.argmax(axis=1) == labels, bins)


def confidence_ece(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE of stated confidences (N,) against whether each answer was right (N,): for answers
    that are not the top label of a probability vector, such as a label held by hysteresis."""
    table = confidence_bins(confidence, correct, bins)
    count = np.asarray(table["count"], dtype=float)
    gap = np.abs(np.asarray(table["accuracy"]) - np.asarray(table["confidence"]))
    return float((count * gap).sum() / count.sum())


def confidence_bins(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> dict[str, list[float]]:
    """:func:`reliability_bins` of stated confidences (N,) in [0, 1] and right/wrong answers (N,)."""
    confidence, correct = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=bool)
    if confidence.ndim != 1 or len(confidence) == 0 or correct.shape != confidence.shape:
        shapes = f"{confidence.shape} and {correct.shape}"
        raise ValueError(f"expected confidence (N,) and correct (N,) with N > 0, got {shapes}")
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    safe = np.maximum(count, 1)
    return {
        "lower": edges[:-1].tolist(),
        "upper": edges[1:].tolist(),
        "count": count.tolist(),
        "confidence": (np.bincount(index, confidence, minlength=bins) / safe).tolist(),
        "accuracy": (np.bincount(index, correct.astype(float), minlength=bins) / safe).tolist(),
    }


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Top-label ECE: sum over bins of (share of samples) x |accuracy - mean confidence|."""
    probs, labels = _check(probs, labels)
    return confidence_ece(probs.max(axis=1), probs.argmax(axis=1) == labels, bins)


def ece_noise_floor(probs: np.ndarray, bins: int = ECE_BINS, draws: int = 200, seed: int = 0) -> float:
    """The mean ECE of ``probs`` when they are perfectly calibrated: labels drawn from ``probs``
    themselves, ``draws`` times. ECE is biased upwards on a finite sample; an ECE near this is
    as good as the sample can show."""
    probs = np.asarray(probs, dtype=np.float64)
    rng = np.random.default_rng(seed)
    cumulative = probs.cumsum(axis=1)
    scores = []
    for _ in range(draws):
        labels = (cumulative > rng.random((len(probs), 1)) * cumulative[:, -1:]).argmax(axis=1)
        scores.append(expected_calibration_error(probs, labels, bins))
    return float(np.mean(scores))


def fit_temperature(
    logits: np.ndarray, labels: np.ndarray, bounds: tuple[float, float] = TEMPERATURE_BOUNDS
) -> float:
    """The T in ``bounds`` that minimises :func:`negative_log_likelihood` (bounded search over log T)."""
    logits, labels = _check(logits, labels)
    low, high = np.log(bounds[0]), np.log(bounds[1])
    result = minimize_scalar(
        lambda log_t: negative_log_likelihood(logits, labels, float(np.exp(log_t))),
        bounds=(low, high),
        method="bounded",
        options={"xatol": 1e-6},
    )
    return float(np.exp(result.x))


def calibration_scores(
    logits: np.ndarray, labels: np.ndarray, temperature: float, bins: int = ECE_BINS
) -> dict[str, float]:
    """Accuracy, NLL and ECE of ``logits`` as they are and divided by ``temperature``, and the ECE
    that calibrated probabilities would show on this many images (:func:`ece_noise_floor`)."""
    logits, labels = _check(logits, labels)
    before, after = calibrated_softmax(logits, None, np.float64), calibrated_softmax(logits, temperature, np.float64)
    return {
        "n_images": int(len(labels)),
        "accuracy": float((logits.argmax(axis=1) == labels).mean()),
        "nll_before": negative_log_likelihood(logits, labels),
        "nll_after": negative_log_likelihood(logits, labels, temperature),
        "ece_before": expected_calibration_error(before, labels, bins),
        "ece_after": expected_calibration_error(after, labels, bins),
        "ece_noise_floor_after": ece_noise_floor(after, bins),
    }


def split_half_check(
    logits: np.ndarray, labels: np.ndarray, seed: int = 0, bins: int = ECE_BINS
) -> list[dict[str, Any]]:
    """Two folds of a random half split (``seed``): T fitted on one half, scores on the other."""
    logits, labels = _check(logits, labels)
    order = np.random.default_rng(seed).permutation(len(labels))
    halves = (order[: len(order) // 2], order[len(order) // 2 :])
    folds = []
    for fit_half, score_half in (halves, halves[::-1]):
        temperature = fit_temperature(logits[fit_half], labels[fit_half])
        scores = calibration_scores(logits[score_half], labels[score_half], temperature, bins)
        folds.append({"temperature": temperature, **scores})
    return folds
