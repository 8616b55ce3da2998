"""Classification metrics (scikit-learn) for the 7-class task and the seed project's 3-class subset."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from fer_video.constants import CLASSES

#: The seed project's protocol: happy / sad / neutral only.
SUBSET_3CLASS: tuple[str, ...] = ("happy", "sad", "neutral")


def row_normalise(counts: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (rows with no samples stay zero): recall on the diagonal."""
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros(counts.shape, dtype=float), where=totals > 0)


def classification_metrics(
    labels: np.ndarray, predictions: np.ndarray, classes: Sequence[str] = CLASSES
) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1/support, macro and weighted F1, and the confusion matrix
    (rows: true class, columns: predicted class, both in ``classes`` order) as counts and row-normalised."""
    index = np.arange(len(classes))
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predictions, labels=index, zero_division=0
    )
    counts = confusion_matrix(labels, predictions, labels=index)
    return {
        "n_images": int(len(labels)),
        "accuracy": float(accuracy_score(labels, predictions)),
        "macro_f1": float(f1_score(labels, predictions, labels=index, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(labels, predictions, labels=index, average="weighted", zero_division=0)),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(classes, precision, recall, f1, support)
        },
        "classes": list(classes),
        "confusion_matrix": counts.tolist(),
        "confusion_matrix_normalised": row_normalise(counts).round(6).tolist(),
    }


def restrict_to_subset(
    probs: np.ndarray, labels: np.ndarray, subset: Sequence[str] = SUBSET_3CLASS, classes: Sequence[str] = CLASSES
) -> tuple[np.ndarray, np.ndarray]:
    """Keep the samples whose true class is in ``subset``; predict by argmax over those classes only.

    Returns ``(labels, predictions)`` as indices into ``subset``.
    """
    columns = np.array([list(classes).index(name) for name in subset])
    keep = np.isin(labels, columns)
    local_label = {int(c): i for i, c in enumerate(columns)}
    subset_labels = np.array([local_label[int(y)] for y in labels[keep]], dtype=np.int64)
    return subset_labels, probs[keep][:, columns].argmax(axis=1)


def subset_metrics(
    probs: np.ndarray, labels: np.ndarray, subset: Sequence[str] = SUBSET_3CLASS, classes: Sequence[str] = CLASSES
) -> dict[str, Any]:
    """:func:`classification_metrics` on the ``subset`` protocol (see :func:`restrict_to_subset`)."""
    subset_labels, subset_predictions = restrict_to_subset(probs, labels, subset, classes)
    return classification_metrics(subset_labels, subset_predictions, subset)
