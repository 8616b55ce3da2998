"""Evaluate a checkpoint on a FER2013 split: metrics, confusion matrices, report.

::

    from fer_video.evaluate import evaluate_checkpoint
    result = evaluate_checkpoint("models/emotion_cnn.pt", split="publictest", tta="flip")
    result["metrics"]["accuracy"], result["subset_3class"]["accuracy"]

Names are imported on first use (:mod:`fer_video.lazy`), so ``fer_video.evaluate.outputs``
(atomic writes, used by every command that writes files) loads none of scikit-learn,
matplotlib or the training code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fer_video.lazy import lazy_exports

if TYPE_CHECKING:
    from fer_video.evaluate.metrics import SUBSET_3CLASS, classification_metrics, subset_metrics
    from fer_video.evaluate.scoring import evaluate_checkpoint, evaluate_predictions
    from fer_video.evaluate.tta import TTA_MODES, predict_proba, ten_crop_views

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "SUBSET_3CLASS": "fer_video.evaluate.metrics",
        "TTA_MODES": "fer_video.evaluate.tta",
        "classification_metrics": "fer_video.evaluate.metrics",
        "evaluate_checkpoint": "fer_video.evaluate.scoring",
        "evaluate_predictions": "fer_video.evaluate.scoring",
        "predict_proba": "fer_video.evaluate.tta",
        "subset_metrics": "fer_video.evaluate.metrics",
        "ten_crop_views": "fer_video.evaluate.tta",
    },
)

__all__ = [
    "SUBSET_3CLASS",
    "TTA_MODES",
    "classification_metrics",
    "evaluate_checkpoint",
    "evaluate_predictions",
    "predict_proba",
    "subset_metrics",
    "ten_crop_views",
]
