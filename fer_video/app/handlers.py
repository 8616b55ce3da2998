"""What the app does, as plain functions and one class: arrays and paths in, display values out.

No Gradio here: :mod:`fer_video.app.ui` wires these to components and turns their errors into
messages in the page; tests call them directly. Every stage is the library's own
(:class:`~fer_video.recognizer.EmotionRecognizer`, :func:`~fer_video.video.annotate_video`,
:class:`~fer_video.video.LiveAnalyzer`), exactly as the CLI runs it.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from fer_video.app.charts import probability_figure
from fer_video.app.settings import describe_duration
from fer_video.app.tables import FACE_COLUMNS, LIVE_COLUMNS, TIMELINE_COLUMNS, empty_table
from fer_video.imaging import ImageSource, annotate_image, load_image
from fer_video.recognizer import EmotionRecognizer, FaceResult, results_table
from fer_video.temporal import GruModel
from fer_video.video import (
    LiveAnalyzer,
    TrackState,
    VideoOptions,
    VideoReport,
    VideoSource,
    annotate_video,
)
from fer_video.video.draw import draw_tracks

class BoxedFace(Protocol):
    box: tuple[float, float, float, float]
    probabilities: dict[str, float]
    label: str
    confidence: float


def largest_face(faces: Sequence[BoxedFace]) -> BoxedFace | None:
    """The face with the biggest box (the one a viewer looks at first), or None."""
    return max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]), default=None)


@dataclass
class ImageAnalysis:
    """Everything the Image tab shows for one photo."""

    annotated: np.ndarray
    faces: list[FaceResult]
    chart: Figure
    table: pd.DataFrame

    @property
    def main_face(self) -> dict[str, float]:
        """Probabilities of the largest face ({} without a face)."""
        face = largest_face(self.faces)
        return dict(face.probabilities) if face else {}


def analyse_image(image: ImageSource, recognizer: EmotionRecognizer) -> ImageAnalysis:
    """Detect and classify every face in ``image`` (path, PIL image or RGB array); raises
    :class:`~fer_video.imaging.ImageLoadError` for a file that is not a readable image."""
    frame = load_image(image)
    faces = recognizer.predict(frame)
    return ImageAnalysis(annotate_image(frame, faces), faces, probability_figure(faces), face_table(faces))


def face_table(faces: Sequence[FaceResult]) -> pd.DataFrame:
    """One row per face: index, label, confidence, box, detection score, probabilities (3 decimals)."""
    table = results_table([("", faces)])
    if table.empty:
        return empty_table(FACE_COLUMNS)
    table = table[FACE_COLUMNS].round(3)
    table[["x1", "y1", "x2", "y2"]] = table[["x1", "y1", "x2", "y2"]].round().astype(int)
    return table


@dataclass
class VideoAnalysis:
    """The files a video analysis wrote, its per-track summary as a table, and the length of
    the whole video (only its first ``report.duration_s`` seconds are analysed when longer)."""

    report: VideoReport
    summary: pd.DataFrame
    source_duration_s: float

    @property
    def truncated(self) -> bool:
        return self.source_duration_s > self.report.duration_s + 1e-3


def analyse_video(
    path: str | os.PathLike,
    out_dir: str | os.PathLike,
    recognizer: EmotionRecognizer,
    gru: GruModel | None,
    fps: float,
    smoothing: str,
    max_seconds: float,
    progress: Callable[[float], None] | None = None,
    notice: Callable[[str], None] | None = None,
) -> VideoAnalysis:
    """Annotate the first ``max_seconds`` of a video into ``out_dir`` (annotated MP4, timeline
    CSV and plot, summaries) with the library's :class:`~fer_video.video.VideoOptions` (its
    defaults but for ``fps`` and ``smoothing``); ``notice`` hears, before the analysis starts,
    when the video is longer than ``max_seconds``. Raises :class:`~fer_video.video.VideoError`
    for an unreadable video."""
    with VideoSource(path) as source:  # fails fast on a bad file, and tells the full length
        source_duration = source.info.duration_s
    if notice is not None and source_duration > max_seconds:
        notice(
            f"This video is {describe_duration(source_duration)} long: only its first "
            f"{describe_duration(max_seconds)} will be analysed (this server's limit)."
        )
    options = VideoOptions(fps=fps, smoothing=smoothing, write_video=True, overwrite=True, max_duration_s=max_seconds)
    report = annotate_video(path, out_dir, options, recognizer=recognizer, gru=gru, progress=progress)
    return VideoAnalysis(report, pd.read_csv(report.summary_csv).round(3), source_duration)


@dataclass
class LiveUpdate:
    """What the Live tab shows after one webcam frame."""

    annotated: np.ndarray
    main_face: dict[str, float]
    table: pd.DataFrame
    timeline: pd.DataFrame


@dataclass
class LiveSession:
    """One viewer's webcam stream: the online analyzer (tracks and their smoothing state) and a
    rolling timeline of the largest face's smoothed probabilities over ``history_s`` seconds."""

    analyzer: LiveAnalyzer
    smoothing: str
    history_s: float = 20.0
    start: float | None = None
    main_track: int | None = None
    history: deque = field(default_factory=deque)

    @classmethod
    def create(
        cls, recognizer: EmotionRecognizer, smoothing: str, gru: GruModel | None, history_s: float = 20.0
    ) -> LiveSession:
        return cls(LiveAnalyzer(recognizer, smoothing=smoothing, gru=gru), smoothing, history_s)

    def update(self, frame: np.ndarray, now: float) -> LiveUpdate:
        """Analyse one RGB frame taken at ``now`` (seconds on any monotonic clock)."""
        if self.start is None:
            self.start = now
        time_s = now - self.start
        tracks = self.analyzer.process(frame, time_s)
        main = largest_face(tracks)
        if main is not None:
            self.main_track = main.track_id
        for track in tracks:
            self.history.append((time_s, track.track_id, dict(track.probabilities)))
        while self.history and self.history[0][0] < time_s - self.history_s:
            self.history.popleft()
        return LiveUpdate(
            annotated=draw_tracks(frame.copy(), tracks),
            main_face=dict(main.probabilities) if main else {},
            table=live_table(tracks),
            timeline=self.timeline(),
        )

    def timeline(self) -> pd.DataFrame:
        """Long-format ``time_s, emotion, probability`` rows of the main track's recent frames."""
        rows = [
            (round(time_s, 2), name, round(value, 4))
            for time_s, track_id, probabilities in self.history
            if track_id == self.main_track
            for name, value in probabilities.items()
        ]
        return pd.DataFrame(rows, columns=TIMELINE_COLUMNS).astype({"time_s": float, "probability": float})


def live_table(tracks: Sequence[TrackState]) -> pd.DataFrame:
    """One row per tracked face: track id, label, confidence and the smoothed probabilities."""
    rows = [
        {"face": track.track_id, "label": track.label, "confidence": track.confidence, **track.probabilities}
        for track in tracks
    ]
    return pd.DataFrame(rows, columns=LIVE_COLUMNS).round(3)
