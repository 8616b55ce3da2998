"""Per-track smoothers of per-frame emotion probabilities.

Kinds: ``hmm`` (two-sided: each frame also looks ``lag_s`` seconds ahead; for files), and the
causal ones, which need no future frames (live streams): ``hmm-online``, ``gru``, ``ema``, ``none``.
See :mod:`fer_video.temporal.hmm` and ``results/real_video/`` for how they compare on real clips.

A causal smoother holds the state of one face track: ``update(probs, embedding)`` takes one
frame's CNN output, or ``None`` when the face was not detected in that frame (the state is
carried over the gap), and returns the smoothed probabilities (C,). :func:`make_track_smoother`
gives every kind the streaming form the video pipeline uses: ``push`` per frame returns the
outputs that became final (at once for causal kinds, ``lag_s`` later for ``hmm``), ``flush`` the
rest when the track ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeAlias

import numpy as np

from fer_video.constants import NUM_CLASSES
from fer_video.temporal.hmm import FixedLagHmmSmoother, HmmFilter, HmmSettings, default_hmm, fixed_lag_posteriors

if TYPE_CHECKING:
    from fer_video.temporal.model import TemporalGRU

#: Every smoothing kind; the first is the default for files.
SMOOTHING_KINDS = ("hmm", "hmm-online", "gru", "ema", "none")
#: The kinds that need no future frames; the first is the default for live streams.
ONLINE_SMOOTHING_KINDS = ("hmm-online", "gru", "ema", "none")
DEFAULT_SMOOTHING = SMOOTHING_KINDS[0]
DEFAULT_LIVE_SMOOTHING = ONLINE_SMOOTHING_KINDS[0]
DEFAULT_EMA_ALPHA = 0.2
#: Analysed frames per second assumed where a caller gives no frame interval.
DEFAULT_FRAME_INTERVAL_S = 0.1


def require_online(kind: str) -> None:
    """Raise ``ValueError`` unless smoothing ``kind`` needs no future frames (live streams)."""
    if kind not in ONLINE_SMOOTHING_KINDS:
        raise ValueError(
            f"smoothing {kind!r} needs frames still to come; live, choose one of: {', '.join(ONLINE_SMOOTHING_KINDS)}"
        )


class TrackSmoother(Protocol):
    def update(self, probs: np.ndarray | None, embedding: np.ndarray | None) -> np.ndarray:
        """Smoothed probabilities (C,) after this frame; ``probs=None`` means the face was missed."""
        ...


class StepGru(Protocol):
    """A temporal GRU run outside PyTorch that makes its own per-track smoothers, e.g.
    :class:`fer_video.backends.gru.OnnxGruStep` (ONNX Runtime)."""

    num_classes: int

    def smoother(self) -> TrackSmoother:
        """A fresh smoother for one face track."""
        ...


#: What ``gru`` smoothing runs: the PyTorch module, or a :class:`StepGru` such as the ONNX step.
GruModel: TypeAlias = "TemporalGRU | StepGru"


class NoSmoother:
    """Passes the CNN's probabilities through; holds the last ones while the face is missing."""

    def __init__(self, num_classes: int = NUM_CLASSES) -> None:
        self.current = np.full(num_classes, 1.0 / num_classes, dtype=np.float32)

    def update(self, probs: np.ndarray | None, embedding: np.ndarray | None = None) -> np.ndarray:
        if probs is not None:
            self.current = np.asarray(probs, dtype=np.float32).copy()
        return self.current.copy()


class EmaSmoother:
    """Exponential moving average ``p = alpha * probs + (1 - alpha) * p``; starts at the first
    detection and holds its value while the face is missing."""

    def __init__(self, alpha: float = DEFAULT_EMA_ALPHA, num_classes: int = NUM_CLASSES) -> None:
        if not 0 < alpha <= 1:
            raise ValueError(f"ema_alpha must be in (0, 1], got {alpha}")
        self.alpha = alpha
        self.current = np.full(num_classes, 1.0 / num_classes, dtype=np.float32)
        self.started = False

    def update(self, probs: np.ndarray | None, embedding: np.ndarray | None = None) -> np.ndarray:
        if probs is not None:
            probs = np.asarray(probs, dtype=np.float32)
            self.current = probs.copy() if not self.started else self.alpha * probs + (1 - self.alpha) * self.current
            self.started = True
        return self.current.copy()


def make_smoother(
    kind: str,
    gru: GruModel | None = None,
    ema_alpha: float = DEFAULT_EMA_ALPHA,
    frame_interval_s: float = DEFAULT_FRAME_INTERVAL_S,
    hmm: HmmSettings | None = None,
) -> TrackSmoother:
    """A fresh causal smoother for one track: ``"hmm-online"`` (analysed frames
    ``frame_interval_s`` apart; ``hmm`` settings, default
    :func:`~fer_video.temporal.hmm.default_hmm`), ``"gru"`` (needs ``gru``: a :class:`TemporalGRU`
    or a :class:`StepGru` such as the ONNX Runtime step), ``"ema"`` or ``"none"``."""
    if kind == "hmm-online":
        return HmmFilter(hmm or default_hmm(kind), frame_interval_s, gru.num_classes if gru is not None else NUM_CLASSES)
    if kind == "hmm":
        raise ValueError("smoothing 'hmm' looks ahead and has no causal form; use make_track_smoother, or 'hmm-online'")
    if kind == "none":
        return NoSmoother(gru.num_classes if gru is not None else NUM_CLASSES)
    if kind == "ema":
        return EmaSmoother(ema_alpha, gru.num_classes if gru is not None else NUM_CLASSES)
    if kind == "gru":
        if gru is None:
            raise ValueError("smoothing 'gru' needs a loaded GRU (fer_video.temporal.load_gru())")
        if hasattr(gru, "smoother"):  # a StepGru
            return gru.smoother()
        from fer_video.temporal.gru_smoother import GruSmoother  # (PyTorch: only for this kind)

        return GruSmoother(gru)
    raise ValueError(f"unknown smoothing '{kind}'; expected one of {', '.join(SMOOTHING_KINDS)}")


class StreamingSmoother(Protocol):
    """One track's smoother in the pipeline's streaming form (see the module docstring)."""

    def push(self, probs: np.ndarray | None, embedding: np.ndarray | None) -> list[np.ndarray]: ...

    def flush(self) -> list[np.ndarray]: ...


class CausalStream:
    """A causal :class:`TrackSmoother` in streaming form: every push's output is final at once."""

    def __init__(self, smoother: TrackSmoother) -> None:
        self.smoother = smoother

    def push(self, probs: np.ndarray | None, embedding: np.ndarray | None) -> list[np.ndarray]:
        return [self.smoother.update(probs, embedding)]

    def flush(self) -> list[np.ndarray]:
        return []


class HmmStream:
    """The two-sided ``hmm`` smoother in streaming form (outputs ``lag_s`` seconds late)."""

    def __init__(self, settings: HmmSettings, frame_interval_s: float, num_classes: int = NUM_CLASSES) -> None:
        self.smoother = FixedLagHmmSmoother(settings, frame_interval_s, num_classes)

    def push(self, probs: np.ndarray | None, embedding: np.ndarray | None) -> list[np.ndarray]:
        return self.smoother.push(probs)

    def flush(self) -> list[np.ndarray]:
        return self.smoother.flush()


def make_track_smoother(
    kind: str,
    gru: GruModel | None = None,
    ema_alpha: float = DEFAULT_EMA_ALPHA,
    frame_interval_s: float = DEFAULT_FRAME_INTERVAL_S,
    hmm: HmmSettings | None = None,
) -> StreamingSmoother:
    """A fresh streaming smoother of any kind in :data:`SMOOTHING_KINDS` for one track."""
    if kind == "hmm":
        return HmmStream(hmm or default_hmm(kind), frame_interval_s, gru.num_classes if gru is not None else NUM_CLASSES)
    return CausalStream(make_smoother(kind, gru, ema_alpha, frame_interval_s, hmm))


def smooth_sequence(
    kind: str,
    probs: np.ndarray,
    embeddings: np.ndarray | None = None,
    gru: GruModel | None = None,
    ema_alpha: float = DEFAULT_EMA_ALPHA,
    present: np.ndarray | None = None,
    frame_interval_s: float = DEFAULT_FRAME_INTERVAL_S,
    hmm: HmmSettings | None = None,
) -> np.ndarray:
    """Smoothed probabilities (T, C) for one track's whole sequence, identical to streaming it
    through ``make_track_smoother(kind, ...)`` frame by frame. ``present`` (T,) marks detected
    frames (default: all); the rows of ``probs`` / ``embeddings`` at missed frames are ignored."""
    probs = np.asarray(probs, dtype=np.float32)
    present = np.ones(len(probs), dtype=bool) if present is None else np.asarray(present, dtype=bool)
    if present.shape != probs.shape[:1]:
        raise ValueError(f"present has shape {present.shape}, expected ({len(probs)},)")
    if kind in ("hmm", "hmm-online"):
        return fixed_lag_posteriors(probs, present, hmm or default_hmm(kind), frame_interval_s, two_sided=kind == "hmm")
    smoother = make_smoother(kind, gru, ema_alpha, frame_interval_s, hmm)
    if kind == "gru":
        from fer_video.temporal.gru_smoother import GruSmoother, gru_sequence

        if isinstance(smoother, GruSmoother):  # the PyTorch module: the whole track in one call
            return gru_sequence(smoother.gru, probs, embeddings, present)
    rows = embeddings if embeddings is not None else [None] * len(probs)
    out = [smoother.update(p if seen else None, e if seen else None) for p, e, seen in zip(probs, rows, present)]
    return np.stack(out) if out else np.zeros((0, probs.shape[-1]), dtype=np.float32)
