"""Temporal smoothing of per-face emotion over video frames: an HMM (two-sided for files, causal
for live streams), a GRU over CNN embeddings, EMA and none; hysteresis for the shown label.

``make_track_smoother(kind, ...)`` gives one streaming smoother per face track (``push()`` per frame,
``flush()`` at its end); ``make_smoother`` the causal ones (``update()`` per frame);
``smooth_sequence`` smooths a whole track at once with the same result.
"""

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
