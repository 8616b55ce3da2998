"""The smoothing stage of the video analysis: one streaming smoother and one shown-label rule per
face track, and frames released in order once every face in them is final.

Causal smoothers finish a frame at once; the two-sided ``hmm`` smoother finishes it ``lag_s``
seconds later (or when the face's track ends), so frames wait here meanwhile: at most the lag's
worth of frames, however long the video.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from fer_video.temporal import (
    GruModel,
    HmmSettings,
    HysteresisSettings,
    LabelHysteresis,
    StreamingSmoother,
    make_track_smoother,
)
from fer_video.temporal.hysteresis import shown_label_rule
from fer_video.video.state import TrackState


@dataclass
class _Frame:
    """A frame's faces and how many of them still wait for their smoothed output."""

    states: list[TrackState]
    waiting: int = 0


@dataclass
class _Track:
    smoother: StreamingSmoother
    shown: LabelHysteresis | None
    outstanding: deque[tuple[TrackState, _Frame] | None] = field(default_factory=deque)


class SmoothingStage:
    """Smooths each track's raw CNN output and decides the label shown.

    :meth:`add_frame` takes one analysed frame's faces (``TrackState`` objects whose raw fields are
    set) and the ids of the tracks still alive; it returns the frames that became final, oldest
    first, with ``probabilities``, ``label`` and ``confidence`` filled in. :meth:`finish` returns
    the rest at the end of the video. ``hysteresis`` (``None``: the top emotion is shown) holds the
    shown label (see :mod:`fer_video.temporal.hysteresis`), except with ``none``.
    """

    def __init__(
        self,
        kind: str,
        classes: tuple[str, ...],
        gru: GruModel | None = None,
        frame_interval_s: float = 0.1,
        hysteresis: HysteresisSettings | None = None,
        hmm: HmmSettings | None = None,
    ) -> None:
        self.kind, self.classes, self.gru = kind, classes, gru
        self.frame_interval_s, self.hmm = frame_interval_s, hmm
        self.hysteresis = shown_label_rule(kind, hysteresis)
        self._new_track()  # fail now on a bad kind or a missing GRU, not at the first face
        self.reset()

    def reset(self) -> None:
        """Forget every track and pending frame (a new video or stream)."""
        self._tracks: dict[int, _Track] = {}
        self._frames: deque[_Frame] = deque()

    def _new_track(self) -> _Track:
        smoother = make_track_smoother(self.kind, self.gru, frame_interval_s=self.frame_interval_s, hmm=self.hmm)
        shown = LabelHysteresis(self.hysteresis, self.frame_interval_s) if self.hysteresis else None
        return _Track(smoother, shown)

    def add_frame(self, seen: list[TrackState], alive: list[int]) -> list[list[TrackState]]:
        """Advance every live track by this frame (tracks not in ``seen`` were missed)."""
        frame = _Frame(sorted(seen, key=lambda state: state.track_id))
        self._frames.append(frame)
        by_id = {state.track_id: state for state in frame.states}
        for track_id in [i for i in self._tracks if i not in alive]:
            self._end(track_id)
        for track_id in alive:
            track = self._tracks.get(track_id) or self._tracks.setdefault(track_id, self._new_track())
            state = by_id.get(track_id)
            if state is None:
                track.outstanding.append(None)
                outputs = track.smoother.push(None, None)
            else:
                frame.waiting += 1
                track.outstanding.append((state, frame))
                raw = np.array([state.raw_probabilities[name] for name in self.classes], np.float32)
                outputs = track.smoother.push(raw, state.embedding)
            self._finalise(track, outputs)
        return self._release()

    def finish(self) -> list[list[TrackState]]:
        """The frames still waiting, final now that the video has ended."""
        for track_id in list(self._tracks):
            self._end(track_id)
        released = self._release()
        assert not self._frames, "every face was finalised"
        return released

    def _end(self, track_id: int) -> None:
        """A track ended: its waiting faces are final now."""
        track = self._tracks.pop(track_id)
        self._finalise(track, track.smoother.flush())

    def _finalise(self, track: _Track, outputs: list[np.ndarray]) -> None:
        """Give the track's oldest waiting faces their smoothed outputs, in order."""
        for smoothed in outputs:
            entry = track.outstanding.popleft()
            if entry is None:
                continue  # a missed frame: nothing to show
            state, frame = entry
            shown = int(np.argmax(smoothed)) if track.shown is None else track.shown.update(smoothed)
            state.probabilities = {name: float(p) for name, p in zip(self.classes, smoothed)}
            state.label = self.classes[shown]
            state.confidence = float(smoothed[shown])
            frame.waiting -= 1

    def _release(self) -> list[list[TrackState]]:
        released = []
        while self._frames and self._frames[0].waiting == 0:
            released.append(self._frames.popleft().states)
        return released
