"""``run_live``: analyse a camera, a stream URL or a video file as it plays, into one folder.

Frames come from :mod:`fer_video.video.stream` (the newest one each time the analysis is free;
the others are dropped and counted) and go through :class:`~fer_video.video.live.LiveAnalyzer`.
Each analysed frame's faces are appended to ``timeline.csv`` at once (the same columns as
``fer-video video``, flushed after every frame, so the file holds complete rows while it
grows); with ``annotate`` the analysed frames, drawn on, go to ``annotated.mp4`` (moved into
place when it is finished). The run ends at the end of the source, at ``duration_s`` seconds or
``max_frames`` analysed frames, or when ``stop`` is set (the CLI sets it on Ctrl+C and SIGTERM);
then the video is finished and ``summary.json`` / ``summary.csv`` are written atomically.
"""

from __future__ import annotations

import datetime
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fer_video.evaluate.outputs import atomic_path
from fer_video.recognizer import EmotionRecognizer
from fer_video.temporal import DEFAULT_LIVE_SMOOTHING, GruModel, require_online
from fer_video.video.draw import draw_tracks
from fer_video.video.encode import FrameVideoWriter
from fer_video.video.errors import VideoError
from fer_video.video.live import LiveAnalyzer
from fer_video.video.outputs import ANNOTATED_VIDEO, SUMMARY_CSV, SUMMARY_JSON, TIMELINE_CSV
from fer_video.video.pipeline import AnalysisOptions
from fer_video.video.state import TrackState, in_input_pixels
from fer_video.video.stream import (
    DEFAULT_TIMEOUT_S,
    FrameStream,
    StreamFrame,
    StreamStats,
    check_pacing,
    parse_source,
)
from fer_video.video.summary import SummaryBuilder
from fer_video.video.timeline import TimelineWriter

#: What a live run writes into its folder (``--overwrite`` replaces exactly these).
LIVE_FILES: tuple[str, ...] = (TIMELINE_CSV, ANNOTATED_VIDEO, SUMMARY_CSV, SUMMARY_JSON)


@dataclass(kw_only=True)
class LiveOptions(AnalysisOptions):
    """How a live source is analysed: :class:`~fer_video.video.pipeline.AnalysisOptions` (``fps``
    analysed frames per second at most, 0: as many as the analysis keeps up with; ``smoothing``
    one of :data:`fer_video.temporal.ONLINE_SMOOTHING_KINDS`: each frame's label from the frames
    seen so far) and: ``annotate``: write ``annotated.mp4``; ``duration_s`` (seconds of the source)
    and ``max_frames`` (analysed frames) end the run early; ``realtime``: pace a file by its
    timestamps (``None``: yes for files; ``False`` hands a file's frames over one by one, none
    dropped); ``timeout_s``: how long to wait for a stream to open or send data."""

    smoothing: str = DEFAULT_LIVE_SMOOTHING
    annotate: bool = False
    duration_s: float | None = None
    max_frames: int | None = None
    realtime: bool | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S

    def validate(self) -> None:
        super().validate()
        require_online(self.smoothing)
        if self.duration_s is not None and not self.duration_s > 0:
            raise ValueError(f"duration must be positive, got {self.duration_s}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError(f"max_frames must be at least 1, got {self.max_frames}")
        if not (self.timeout_s > 0 and math.isfinite(self.timeout_s)):
            raise ValueError(f"timeout must be a positive number of seconds, got {self.timeout_s}")


@dataclass
class LiveStatus:
    """Handed to ``on_frame`` after each analysed frame."""

    frame: StreamFrame
    states: list[TrackState]
    frames_analysed: int
    stats: StreamStats


@dataclass
class LiveReport:
    """Where a live run's results went and how it went; ``stopped`` says why it ended (``end of
    stream``, ``interrupted``, ``duration``, ``max frames``)."""

    out_dir: Path
    timeline_csv: Path
    summary_json: Path
    annotated_video: Path | None
    frames_read: int
    frames_analysed: int
    frames_dropped: int
    frames_skipped: int
    tracks: int
    stopped: str
    duration_s: float
    wall_s: float


def check_live_folder(out_dir: Path, overwrite: bool) -> None:
    """Refuse a file, or a folder already holding files, unless ``overwrite`` (which replaces only
    :data:`LIVE_FILES`)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise VideoError(f"output folder {out_dir} is a file")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise VideoError(f"output folder {out_dir} is not empty; pass --overwrite to replace its results")


def _prepare_live_folder(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in LIVE_FILES:
            (out_dir / name).unlink(missing_ok=True)
    except OSError as error:
        raise VideoError(f"cannot write to output folder {out_dir} ({error.strerror or error})") from None


def run_live(
    source: str,
    out_dir: str | os.PathLike,
    options: LiveOptions | None = None,
    stop: threading.Event | None = None,
    on_frame: Callable[[LiveStatus], None] | None = None,
    recognizer: EmotionRecognizer | None = None,
    gru: GruModel | None = None,
) -> LiveReport:
    """Analyse ``source`` (camera index, URL or file, see :func:`fer_video.video.stream.parse_source`)
    into ``out_dir`` until it ends, a limit is reached or ``stop`` is set. ``recognizer`` (and
    ``gru``) are loaded from ``options`` when not given. A source that cannot be opened is a
    :class:`VideoError` before anything is written; one that fails midway is raised after the
    outputs are finished. A missing camera or file fails before the models load; a URL is
    connected to once they are (so the analysis starts with the newest frames)."""
    options = options or LiveOptions()
    options.validate()
    stop = stop or threading.Event()
    out_dir = Path(out_dir)
    spec = parse_source(source)
    check_pacing(spec, options.fps, options.realtime)
    check_live_folder(out_dir, options.overwrite)
    if recognizer is None:
        recognizer = EmotionRecognizer(
            model=options.model, detector=options.detector, device=options.device, backend=options.backend
        )
    analyzer = LiveAnalyzer(recognizer, options.smoothing, gru, options.detect_every)
    # Connect only now: a stream opened before the models were loaded would pile up stale frames.
    with FrameStream(spec, options.fps, options.realtime, options.timeout_s) as stream:
        if all(stream.size):
            analyzer.warm_up(*stream.analysis_size)
        _prepare_live_folder(out_dir)
        return _LiveRun(stream, analyzer, out_dir, options).run(stop, on_frame)


class _LiveRun:
    """One run's outputs and counters (see :func:`run_live`)."""

    def __init__(self, stream: FrameStream, analyzer: LiveAnalyzer, out_dir: Path, options: LiveOptions) -> None:
        self.stream, self.analyzer, self.out_dir, self.options = stream, analyzer, out_dir, options
        self.classes = analyzer.analyzer.classes
        self.timer = analyzer.analyzer.timer
        self.summary = SummaryBuilder(self.classes)
        self.video = FrameVideoWriter(out_dir / ANNOTATED_VIDEO, options.fps) if options.annotate else None
        self.analysed = 0
        self.first_s: float | None = None
        self.last_s = 0.0

    def run(self, stop: threading.Event, on_frame: Callable[[LiveStatus], None] | None) -> LiveReport:
        started_at = datetime.datetime.now(datetime.timezone.utc)
        started = time.perf_counter()
        failure, annotated = None, None
        try:
            with TimelineWriter(self.out_dir / TIMELINE_CSV, self.classes) as timeline:
                stopped = self._analyse(timeline, stop, on_frame)
        except VideoError as error:  # the source failed midway: finish what was analysed, then report it
            stopped, failure = f"error: {error}", error
        except BaseException as error:
            stopped = "interrupted" if isinstance(error, KeyboardInterrupt) else f"error: {type(error).__name__}"
            raise
        finally:
            if self.video is not None:
                annotated = self.video.close()
            wall = time.perf_counter() - started
            self._write_summary(started_at, stopped, wall)
        if failure is not None:
            raise failure
        return LiveReport(
            out_dir=self.out_dir,
            timeline_csv=self.out_dir / TIMELINE_CSV,
            summary_json=self.out_dir / SUMMARY_JSON,
            annotated_video=annotated,
            frames_read=self.stream.stats.read,
            frames_analysed=self.analysed,
            frames_dropped=self.stream.stats.dropped,
            frames_skipped=self.stream.stats.skipped,
            tracks=len(self.summary.tracks),
            stopped=stopped,
            duration_s=self._duration(),
            wall_s=wall,
        )

    def _analyse(
        self, timeline: TimelineWriter, stop: threading.Event, on_frame: Callable[[LiveStatus], None] | None
    ) -> str:
        """Analyse frames until the source ends, a limit, or ``stop``; returns why it ended."""
        limit_s, limit_frames = self.options.duration_s, self.options.max_frames
        for frame in self.stream.frames(stop):
            if limit_s is not None and frame.time_s >= limit_s:
                return "duration"
            states = self.analyzer.process(frame.image, frame.time_s)
            with self.timer.stage("write"):
                in_input = in_input_pixels(states, frame.scale)
                timeline.write(frame.time_s, frame.index, in_input)
                timeline.flush()
                self.summary.add(frame.time_s, in_input)
            if self.video is not None:
                with self.timer.stage("encode"):
                    self.video.write(draw_tracks(np.ascontiguousarray(frame.image), states), frame.time_s)
            self.analysed += 1
            self.first_s = frame.time_s if self.first_s is None else self.first_s
            self.last_s = frame.time_s
            if on_frame is not None:
                on_frame(LiveStatus(frame, states, self.analysed, self.stream.stats))
            if limit_frames is not None and self.analysed >= limit_frames:
                return "max frames"
        return "interrupted" if stop.is_set() else "end of stream"

    def _duration(self) -> float:
        return self.last_s - self.first_s if self.first_s is not None else 0.0

    def _write_summary(self, started_at: datetime.datetime, stopped: str, wall: float) -> None:
        stats, width_height = self.stream.stats, self.stream.size
        facts = {
            "source": self.stream.spec.name,
            "source_kind": self.stream.spec.kind,
            "started_at": started_at.isoformat(timespec="seconds"),
            "stopped": stopped,
            "duration_s": round(self._duration(), 3),
            "wall_s": round(wall, 3),
            "width": width_height[0],
            "height": width_height[1],
            "frames_read": stats.read,
            "frames_analysed": self.analysed,
            "frames_dropped": stats.dropped,
            "frames_skipped": stats.skipped,
            "analysed_per_s": round(self.analysed / wall, 3) if wall > 0 else None,
            "realtime": self.stream.paced,
            "options": {k: v for k, v in asdict(self.options).items() if k != "overwrite"},
            "stage_times": self.timer.as_dict(),
        }
        with atomic_path(self.out_dir / SUMMARY_CSV) as partial:
            self.summary.write_csv(partial)
        with atomic_path(self.out_dir / SUMMARY_JSON) as partial:
            self.summary.write_json(partial, facts)
