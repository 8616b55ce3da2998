"""Temporal smoothing of per-face emotion over video frames: an HMM (two-sided for files, causal
for live streams), a GRU over CNN embeddings, EMA and none; hysteresis for the shown label.

``make_track_smoother(kind, ...)`` gives one streaming smoother per face track (``push()`` per frame,
``flush()`` at its end); ``make_smoother`` the causal ones (``update()`` per frame);
``smooth_sequence`` smooths a whole track at once with the same result. Names are imported on first
use (:mod:`fer_video.lazy`): only the GRU loads PyTorch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fer_video.lazy import lazy_exports

if TYPE_CHECKING:
    from fer_video.temporal.hmm import HmmSettings
    from fer_video.temporal.hysteresis import HysteresisSettings, LabelHysteresis, hysteresis_labels
    from fer_video.temporal.model import TemporalGRU, load_gru
    from fer_video.temporal.smoothing import (
        DEFAULT_EMA_ALPHA,
        DEFAULT_LIVE_SMOOTHING,
        DEFAULT_SMOOTHING,
        ONLINE_SMOOTHING_KINDS,
        SMOOTHING_KINDS,
        GruModel,
        StepGru,
        StreamingSmoother,
        TrackSmoother,
        make_smoother,
        make_track_smoother,
        require_online,
        smooth_sequence,
    )

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "DEFAULT_EMA_ALPHA": "fer_video.temporal.smoothing",
        "DEFAULT_LIVE_SMOOTHING": "fer_video.temporal.smoothing",
        "DEFAULT_SMOOTHING": "fer_video.temporal.smoothing",
        "GruModel": "fer_video.temporal.smoothing",
        "HmmSettings": "fer_video.temporal.hmm",
        "HysteresisSettings": "fer_video.temporal.hysteresis",
        "LabelHysteresis": "fer_video.temporal.hysteresis",
        "ONLINE_SMOOTHING_KINDS": "fer_video.temporal.smoothing",
        "SMOOTHING_KINDS": "fer_video.temporal.smoothing",
        "StepGru": "fer_video.temporal.smoothing",
        "StreamingSmoother": "fer_video.temporal.smoothing",
        "TemporalGRU": "fer_video.temporal.model",
        "TrackSmoother": "fer_video.temporal.smoothing",
        "hysteresis_labels": "fer_video.temporal.hysteresis",
        "load_gru": "fer_video.temporal.model",
        "make_smoother": "fer_video.temporal.smoothing",
        "make_track_smoother": "fer_video.temporal.smoothing",
        "require_online": "fer_video.temporal.smoothing",
        "smooth_sequence": "fer_video.temporal.smoothing",
    },
)

__all__ = [
    "DEFAULT_EMA_ALPHA",
    "DEFAULT_LIVE_SMOOTHING",
    "DEFAULT_SMOOTHING",
    "ONLINE_SMOOTHING_KINDS",
    "SMOOTHING_KINDS",
    "GruModel",
    "HmmSettings",
    "HysteresisSettings",
    "LabelHysteresis",
    "StepGru",
    "StreamingSmoother",
    "TemporalGRU",
    "TrackSmoother",
    "hysteresis_labels",
    "load_gru",
    "make_smoother",
    "make_track_smoother",
    "require_online",
    "smooth_sequence",
]
