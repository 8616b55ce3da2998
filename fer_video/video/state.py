"""What the video layer reports for each tracked face in each analysed frame."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

Box = tuple[float, float, float, float]


@dataclass
class TrackState:
    """One tracked face in one analysed frame.

    ``probabilities``/``label``/``confidence``: the smoothed emotion; ``raw_*`` the CNN's own
    output for this frame; ``det_score`` the detector's score, ``None`` where the box is the
    tracker's estimate (frames analysed without detection); ``embedding`` the CNN's feature
    vector for this frame (what the temporal GRU reads; not written to the outputs).
    """

    track_id: int
    box: Box
    probabilities: dict[str, float]
    label: str
    confidence: float
    raw_probabilities: dict[str, float]
    raw_label: str
    det_score: float | None
    embedding: np.ndarray | None = field(default=None, repr=False, compare=False)


def in_input_pixels(states: Sequence[TrackState], scale: float) -> list[TrackState]:
    """The faces of a frame analysed at ``scale`` (analysed pixels per input pixel), with their boxes in
    the input's pixels."""
    if scale == 1.0:
        return list(states)
    return [replace(state, box=tuple(value / scale for value in state.box)) for state in states]
