"""Frame accuracy, macro-F1, flicker and lag of smoothed label sequences against the true labels.

Scores use the frames where the face is present. A *switch* is a change of predicted label
between consecutive present frames. After a true change of emotion (a new segment of class k),
the first switch into k inside that segment is the *explained* switch for it; every other switch
is *spurious*. The *lag* of a true change is the time from the change to the first present frame
predicted as k; a change never predicted inside its segment is *missed* (not in the lag).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score

from fer_video.constants import NUM_CLASSES


def clip_switches(pred: np.ndarray, labels: np.ndarray, present: np.ndarray) -> dict[str, object]:
    """Switch and change statistics of one clip: ``switches``, ``spurious``, ``true_changes`` and
    ``lags`` (frames, one per recognised change)."""
    frames = np.flatnonzero(present)
    seen_pred = pred[frames]
    switch_frames = frames[1:][seen_pred[1:] != seen_pred[:-1]]
    change_frames = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    bounds = np.append(change_frames, len(labels))
    explained, lags = 0, []
    for start, stop in zip(bounds[:-1], bounds[1:]):
        target = labels[start]
        hits = frames[(frames >= start) & (frames < stop) & (pred[frames] == target)]
        if len(hits):
            lags.append(int(hits[0] - start))
        inside = switch_frames[(switch_frames >= start) & (switch_frames < stop)]
        explained += bool(np.any(pred[inside] == target))
    return {
        "switches": len(switch_frames),
        "spurious": len(switch_frames) - explained,
        "true_changes": len(change_frames),
        "lags": lags,
    }


def sequence_metrics(
    preds: np.ndarray, labels: np.ndarray, present: np.ndarray, fps: float, num_classes: int = NUM_CLASSES
) -> dict[str, float]:
    """Summary over N clips: predicted labels ``preds`` (N, T), true ``labels`` (N, T), ``present`` (N, T)."""
    minutes = labels.size / fps / 60
    stats = [clip_switches(p, y, m) for p, y, m in zip(preds, labels, present)]
    lags = np.asarray([lag for s in stats for lag in s["lags"]], dtype=float) / fps
    changes = sum(s["true_changes"] for s in stats)
    truth, guess = labels[present], preds[present]
    return {
        "frame_acc": float(np.mean(truth == guess)),
        "macro_f1": float(f1_score(truth, guess, labels=list(range(num_classes)), average="macro", zero_division=0)),
        "switches_per_min": sum(s["switches"] for s in stats) / minutes,
        "spurious_per_min": sum(s["spurious"] for s in stats) / minutes,
        "true_switches_per_min": changes / minutes,
        "change_recall": len(lags) / changes if changes else float("nan"),
        "lag_median_s": float(np.median(lags)) if len(lags) else float("nan"),
        "lag_mean_s": float(np.mean(lags)) if len(lags) else float("nan"),
    }
