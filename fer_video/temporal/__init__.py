"""Temporal smoothing of per-face emotion over video frames: a GRU over CNN embeddings, plus EMA and none.

``make_smoother(kind, gru)`` gives one stateful smoother per face track (``update()`` per frame);
``smooth_sequence`` smooths a whole track at once with the same result.
"""

from fer_video.temporal.model import TemporalGRU, load_gru
from fer_video.temporal.smoothing import (
    DEFAULT_EMA_ALPHA,
    SMOOTHING_KINDS,
    GruModel,
    StepGru,
    TrackSmoother,
    make_smoother,
    smooth_sequence,
)

__all__ = [
    "DEFAULT_EMA_ALPHA",
    "SMOOTHING_KINDS",
    "GruModel",
    "StepGru",
    "TemporalGRU",
    "TrackSmoother",
    "load_gru",
    "make_smoother",
    "smooth_sequence",
]
