"""A hidden Markov model of a face's emotion over time: causal filtering and two-sided smoothing.

The hidden state is the face's emotion; it stays from one frame to the next except for a switch,
at ``switch_rate_hz`` switches per second on average, to any other emotion alike. Each frame where
the face is seen, the CNN's probabilities raised to the power ``evidence_per_s * dt`` are the
evidence (frames of one face are far from independent, so each frame counts for a fraction of a
full observation; the exponent is per second so the smoothing means the same at any analysis rate).

- :class:`HmmFilter` (``hmm-online``) is the forward pass: the emotion's probability given the frames
  so far. It needs no future frames: live streams and webcams.
- :class:`FixedLagHmmSmoother` (``hmm``) adds a backward pass over the next ``lag_s`` seconds, so each
  frame's answer also uses what the face does just after it (files). It streams: a frame's output is
  final once ``lag_s`` seconds of later frames are in, so memory stays flat however long the video.
  :func:`fixed_lag_posteriors` computes the same over a whole sequence at once.

A frame where the face is not seen contributes no evidence (the state only drifts by the switch
rate); the frames' outputs there are still defined (the caller decides whether to use them).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from fer_video.constants import NUM_CLASSES

_FLOOR = 1e-6


@dataclass(frozen=True)
class HmmSettings:
    """``switch_rate_hz``: expected emotion changes per second; ``evidence_per_s``: how much one
    second of CNN output counts (the per-frame exponent is this times the frame interval);
    ``lag_s``: how far ahead the two-sided smoother looks."""

    switch_rate_hz: float = 0.1
    evidence_per_s: float = 2.0
    lag_s: float = 1.0

    def __post_init__(self) -> None:
        if not (self.switch_rate_hz > 0 and self.evidence_per_s > 0 and self.lag_s >= 0):
            raise ValueError(f"HMM settings must be positive (lag_s may be 0), got {self}")

    def switch_probability(self, dt: float, num_classes: int) -> float:
        """Probability of leaving the current emotion between two frames ``dt`` seconds apart."""
        return (1.0 - math.exp(-self.switch_rate_hz * dt)) * (num_classes - 1) / num_classes

    def lag_frames(self, dt: float) -> int:
        return max(0, round(self.lag_s / dt))


#: ``hmm`` (files) settings, chosen on the real dev clips (``results/real_video/tuning.md``).
FILE_HMM = HmmSettings()
#: ``hmm-online`` (live) settings: half the evidence per second of ``hmm`` and half its expected
#: switch rate, so that, without a look-ahead, the label on the real dev clips switches less than the
#: tuned EMA's (``scripts/tune_smoothing.py``'s rule, ``results/real_video/tuning.md``).
LIVE_HMM = HmmSettings(switch_rate_hz=0.05, evidence_per_s=1.0, lag_s=0.0)


def default_hmm(kind: str) -> HmmSettings:
    """The HMM settings smoothing ``kind`` ships with: :data:`LIVE_HMM` for ``hmm-online``, else :data:`FILE_HMM`."""
    return LIVE_HMM if kind == "hmm-online" else FILE_HMM


def _transition(belief: np.ndarray, leave: float) -> np.ndarray:
    """One step of the sticky chain: stay with probability ``1 - leave``, else move to any other state."""
    num_classes = belief.shape[-1]
    spread = belief.sum(axis=-1, keepdims=True) - belief
    return (1.0 - leave) * belief + leave / (num_classes - 1) * spread


def _evidence(probs: np.ndarray | None, exponent: float, num_classes: int) -> np.ndarray:
    if probs is None:
        return np.ones(num_classes)
    return np.power(np.clip(np.asarray(probs, np.float64), _FLOOR, 1.0), exponent)


def _normalised(values: np.ndarray) -> np.ndarray:
    return values / values.sum(axis=-1, keepdims=True)


class HmmFilter:
    """Causal HMM smoother of one face track (a :class:`~fer_video.temporal.smoothing.TrackSmoother`):
    ``update(probs, embedding)`` per analysed frame, ``probs=None`` when the face was missed."""

    def __init__(self, settings: HmmSettings, frame_interval_s: float, num_classes: int = NUM_CLASSES) -> None:
        self.settings, self.num_classes = settings, num_classes
        self.leave = settings.switch_probability(frame_interval_s, num_classes)
        self.exponent = settings.evidence_per_s * frame_interval_s
        self.belief = np.full(num_classes, 1.0 / num_classes)
        self.started = False

    def update(self, probs: np.ndarray | None, embedding: np.ndarray | None = None) -> np.ndarray:
        if self.started:
            self.belief = _transition(self.belief, self.leave)
        self.started = True
        self.belief = _normalised(self.belief * _evidence(probs, self.exponent, self.num_classes))
        return self.belief.astype(np.float32)


class FixedLagHmmSmoother:
    """Two-sided HMM smoother of one face track with a fixed look-ahead.

    ``push(probs)`` takes one analysed frame (``None``: face missed) and returns the outputs that
    became final, oldest first: nothing for the first ``lag`` frames, then one per frame;
    ``flush()`` returns the rest at the end of the track. Each output is the probability of each
    emotion at that frame given every frame before it and the ``lag`` frames after it.
    """

    def __init__(self, settings: HmmSettings, frame_interval_s: float, num_classes: int = NUM_CLASSES) -> None:
        self.forward = HmmFilter(settings, frame_interval_s, num_classes)
        self.lag = settings.lag_frames(frame_interval_s)
        self._window: deque[tuple[np.ndarray, np.ndarray]] = deque()  # (forward belief, evidence)

    def push(self, probs: np.ndarray | None) -> list[np.ndarray]:
        belief = self.forward.update(probs).astype(np.float64)
        self._window.append((belief, _evidence(probs, self.forward.exponent, self.forward.num_classes)))
        return [self._pop()] if len(self._window) > self.lag else []

    def flush(self) -> list[np.ndarray]:
        return [self._pop() for _ in range(len(self._window))]

    def _pop(self) -> np.ndarray:
        """The final output of the oldest frame in the window (which then leaves it)."""
        backward = np.ones(self.forward.num_classes)
        for _, evidence in list(self._window)[:0:-1]:  # newest down to the second oldest
            backward = _normalised(_transition(evidence * backward, self.forward.leave))
        belief, _ = self._window.popleft()
        return _normalised(belief * backward).astype(np.float32)


def fixed_lag_posteriors(
    probs: np.ndarray, present: np.ndarray, settings: HmmSettings, frame_interval_s: float, two_sided: bool = True
) -> np.ndarray:
    """The outputs (T, C) of :class:`FixedLagHmmSmoother` (or, with ``two_sided=False``, of
    :class:`HmmFilter`) over a whole track at once: ``probs`` (T, C), ``present`` (T,) marks the
    frames where the face was seen."""
    probs = np.asarray(probs, np.float64)
    steps, num_classes = probs.shape
    leave = settings.switch_probability(frame_interval_s, num_classes)
    exponent = settings.evidence_per_s * frame_interval_s
    evidence = np.where(np.asarray(present, bool)[:, None], np.power(np.clip(probs, _FLOOR, 1.0), exponent), 1.0)
    forward = np.zeros_like(evidence)
    belief = np.full(num_classes, 1.0 / num_classes)
    for t in range(steps):
        belief = _normalised((belief if t == 0 else _transition(belief, leave)) * evidence[t])
        forward[t] = belief
    if not two_sided or steps == 0:
        return forward.astype(np.float32)
    lag = settings.lag_frames(frame_interval_s)
    # backward[t] for every t at once: start at each t's horizon, walk back one step per round.
    horizon = np.minimum(np.arange(steps) + lag, steps - 1)
    backward = np.ones_like(evidence)
    for step in range(lag, 0, -1):
        source = np.arange(steps) + step  # the frame each t's message passes through this round
        active = source <= horizon
        moved = _normalised(_transition(evidence[source[active]] * backward[active], leave))
        backward[active] = moved
    return _normalised(forward * backward).astype(np.float32)
