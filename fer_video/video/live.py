"""``LiveAnalyzer``: the video pipeline's tracking and smoothing for a stream (a webcam), one
frame at a time, with the same analyzer the offline pipeline uses."""

from __future__ import annotations

import numpy as np

from fer_video.recognizer import EmotionRecognizer
from fer_video.temporal import DEFAULT_LIVE_SMOOTHING, GruModel, require_online
from fer_video.temporal.hysteresis import default_hysteresis
from fer_video.video.analyzer import FaceTrackAnalyzer
from fer_video.video.pipeline import load_shipped_gru, max_gap_frames, track_birth_hits
from fer_video.video.state import TrackState

#: Frame rate assumed until two frames' times have been seen.
_DEFAULT_RATE = 10.0


class LiveAnalyzer:
    """Online face tracking + temporal smoothing for frames that arrive one by one.

    Frames may come at any rate: a face unseen for :data:`~fer_video.video.pipeline.MAX_GAP_S`
    seconds (judged from the recent frame rate) ends its track, and a new face starts one after as
    many seconds of sightings as in a file (:func:`~fer_video.video.pipeline.track_birth_hits`). A frame whose time goes
    backwards starts a new stream (:meth:`reset`). ``detect_every``: a full face detection on
    every k-th frame, tracked faces re-checked in between (see :class:`FaceTrackAnalyzer`);
    ``smoothing`` one of :data:`fer_video.temporal.ONLINE_SMOOTHING_KINDS` (default ``hmm-online``);
    ``hysteresis``: hold the shown label as ``fer-video video`` does.
    """

    def __init__(
        self,
        recognizer: EmotionRecognizer,
        smoothing: str = DEFAULT_LIVE_SMOOTHING,
        gru: GruModel | None = None,
        detect_every: int = 1,
        hysteresis: bool = True,
    ) -> None:
        require_online(smoothing)
        if smoothing == "gru" and gru is None:
            gru = load_shipped_gru(recognizer)
        self.analyzer = FaceTrackAnalyzer(
            recognizer, smoothing, gru, detect_every=detect_every, hysteresis=default_hysteresis(smoothing) if hysteresis else None
        )
        self._last_time: float | None = None
        self._rate = _DEFAULT_RATE

    def warm_up(self, width: int, height: int) -> None:
        """Run the models once on a blank ``width`` x ``height`` frame and a blank face crop, then
        forget it: the first frames of a new size cost several times as much as the next ones,
        which a live source would pay in dropped frames."""
        self.process(np.zeros((height, width, 3), np.uint8), 0.0)
        size = self.analyzer.recognizer.input_size
        self.analyzer.recognizer.classifier.predict(np.zeros((1, size, size), np.uint8))
        self.reset()

    def process(self, frame: np.ndarray, time_s: float) -> list[TrackState]:
        """The tracked faces in this RGB uint8 frame (H, W, 3) taken at ``time_s`` seconds."""
        if self._last_time is not None:
            step = time_s - self._last_time
            if step < 0:
                self.reset()
            elif step > 0:
                self._rate = 0.8 * self._rate + 0.2 * (1.0 / step)
        self._last_time = time_s
        self.analyzer.set_max_gap(max_gap_frames(self._rate))
        self.analyzer.set_track_birth(*track_birth_hits(self._rate))
        return self.analyzer.process([frame])[0]

    def reset(self) -> None:
        """Forget all faces: the next frame starts a new stream."""
        self.analyzer.reset()
        self._last_time = None
        self._rate = _DEFAULT_RATE
