"""``annotate_video``: one video in, one folder of results out.

The analysis streams the video in chunks of analysed frames (decoded forward with PyAV at
``fps``, the next chunk decoding in a second thread while one is analysed) through
:class:`~fer_video.video.analyzer.FaceTrackAnalyzer`, appending each frame's tracked faces to
``timeline.csv`` and the per-track summary as it goes; meanwhile another thread re-reads every
frame and encodes ``annotated.mp4``. Memory stays constant whatever the video's length.
"""

from __future__ import annotations

import math
import os
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from fer_video.backends import BACKENDS
from fer_video.faces import DETECTORS
from fer_video.pretrained import DEFAULT_MODEL, shipped_model
from fer_video.recognizer import EmotionRecognizer
from fer_video.temporal import DEFAULT_SMOOTHING, SMOOTHING_KINDS, GruModel
from fer_video.temporal.hysteresis import default_hysteresis
from fer_video.video.analyzer import FaceTrackAnalyzer
from fer_video.video.decode import VideoSource
from fer_video.video.encode import DEFAULT_VIDEO_SIZE, MIN_VIDEO_SIZE, AnnotatedVideoWriter
from fer_video.video.outputs import (
    ANNOTATED_VIDEO,
    SUMMARY_CSV,
    SUMMARY_JSON,
    TIMELINE_CSV,
    TIMELINE_PNG,
    StagedOutput,
)
from fer_video.video.plot import plot_timeline
from fer_video.video.state import in_input_pixels
from fer_video.video.summary import SummaryBuilder
from fer_video.video.timeline import TimelineWriter
from fer_video.video.timing import StageTimer

#: A face undetected for longer than this (seconds) ends its track; if it returns, it gets a new id.
MAX_GAP_S = 1.0
#: A new face becomes a track once seen for this long (and at least twice): at high analysis rates,
#: one-off false detections at the frame's edge last a frame or two (results/bench_video.md).
MIN_TRACK_S = 0.1
#: ... or this long when none of its detections was sure (tracker.SURE_FACE_SCORE): a false face on
#: a collar at the frame's edge scored 0.94-0.96 for 0.1 s of the benchmark clip
#: (results/bench_video_hmm_xeon_amx.md).
MIN_UNSURE_TRACK_S = 0.5
#: Analysed frames decoded and processed together, at most ...
CHUNK_FRAMES = 32
#: ... and at most this many bytes of decoded frames (4K video gets smaller chunks).
CHUNK_BYTES = 256 * 2**20

#: Full face detection on every 3rd analysed frame by default: new faces are found within
#: 0.3 s at 10 analysed frames per second; the faces already tracked are re-checked on every
#: frame (results/bench_video.md measures the speed and the agreement with detecting every frame).
DEFAULT_DETECT_EVERY = 3

Progress = Callable[[float], None]


def max_gap_frames(rate: float) -> int:
    """Analysed frames in :data:`MAX_GAP_S` at ``rate`` analysed frames per second (at least 1); a
    rate a hair above a whole number of frames, as one estimated from frame times is, is not
    rounded up to one frame more."""
    return max(1, math.ceil(MAX_GAP_S * rate - 1e-6))


def track_birth_hits(rate: float, frames_to_analyse: int | None = None) -> tuple[int, int]:
    """Sightings in a row that start a new face's track at ``rate`` analysed frames per second:
    :data:`MIN_TRACK_S` worth after a sure detection and :data:`MIN_UNSURE_TRACK_S` worth without
    one, at least two; a video of ``frames_to_analyse`` frames, fewer than that, needs a face in
    each of them (a one-frame video still shows its face)."""
    min_hits = max(2, round(MIN_TRACK_S * rate))
    unsure_hits = max(min_hits, round(MIN_UNSURE_TRACK_S * rate))
    if frames_to_analyse is not None:
        min_hits = max(1, min(min_hits, frames_to_analyse))
        unsure_hits = max(1, min(unsure_hits, frames_to_analyse))
    return min_hits, unsure_hits


@dataclass(kw_only=True)
class AnalysisOptions:
    """What analysing a file and a live source share. ``fps``: analysed frames per second (0: every
    frame, or as many as the analysis keeps up with live); ``smoothing``: a
    :data:`fer_video.temporal.SMOOTHING_KINDS` name; ``detect_every``: run the full face detection
    on every k-th analysed frame; in between, MTCNN re-checks the tracked faces where they are
    expected (a full detection where one is missing), Haar leaves the tracker's estimates (see
    :mod:`fer_video.video.analyzer`); ``backend`` runs the emotion CNN (``auto``, ``torch``,
    ``onnx`` or ``onnx-int8``, see :mod:`fer_video.backends`) and the GRU alike; ``model``: the
    shipped model (``standard`` or ``fast``, see :data:`fer_video.pretrained.SHIPPED_MODELS`), its
    CNN and its GRU; ``overwrite``: replace an earlier run's files in the output folder."""

    fps: float = 10.0
    smoothing: str = DEFAULT_SMOOTHING
    detect_every: int = DEFAULT_DETECT_EVERY
    detector: str = "mtcnn"
    device: str = "auto"
    backend: str = "auto"
    model: str = DEFAULT_MODEL
    overwrite: bool = False

    def validate(self) -> None:
        if not (self.fps >= 0 and math.isfinite(self.fps)):
            raise ValueError(f"fps must be 0 (every frame) or positive, got {self.fps}")
        if self.smoothing not in SMOOTHING_KINDS:
            raise ValueError(f"unknown smoothing {self.smoothing!r}; choose one of: {', '.join(SMOOTHING_KINDS)}")
        if self.detect_every < 1:
            raise ValueError(f"detect_every must be at least 1, got {self.detect_every}")
        if self.detector not in DETECTORS:
            raise ValueError(f"unknown face detector {self.detector!r}; choose one of: {', '.join(DETECTORS)}")
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}; choose one of: {', '.join(BACKENDS)}")
        shipped_model(self.model)  # an unknown name is a ValueError naming the choices


@dataclass(kw_only=True)
class VideoOptions(AnalysisOptions):
    """How a video file is analysed: :class:`AnalysisOptions` (``smoothing`` default ``hmm``:
    two-sided, for files; ``hmm-online``, ``gru``, ``ema`` are causal; ``none`` shows the CNN's own
    answer) and: ``write_video``: also write ``annotated.mp4``; ``max_duration_s``: analyse only
    the start of long videos; ``stabilize``: smooth each face's box and landmarks over time before
    aligning it; ``hysteresis``: hold the shown label until another emotion leads clearly for long
    enough (:func:`fer_video.temporal.hysteresis.default_hysteresis`; never with ``none``);
    ``video_size``: the annotated video's shorter side at most this many pixels (0: the input's size)."""

    write_video: bool = True
    max_duration_s: float | None = None
    stabilize: bool = False
    hysteresis: bool = True
    video_size: int = DEFAULT_VIDEO_SIZE

    def validate(self) -> None:
        super().validate()
        if self.max_duration_s is not None and not self.max_duration_s > 0:
            raise ValueError(f"max_duration_s must be positive, got {self.max_duration_s}")
        if self.video_size < 0 or 0 < self.video_size < MIN_VIDEO_SIZE:
            raise ValueError(
                f"video_size must be 0 (the input's size) or at least {MIN_VIDEO_SIZE}, got {self.video_size}"
            )


@dataclass
class VideoReport:
    """Where the results of one video went, and how the run went. ``stage_times``: seconds per
    stage (decode, detect, track, classify, smooth, write in the analysis thread; video_decode,
    draw, encode in the encoding thread, which runs alongside)."""

    out_dir: Path
    timeline_csv: Path
    summary_json: Path
    summary_csv: Path
    timeline_png: Path
    annotated_video: Path | None
    frames_analysed: int
    tracks: int
    duration_s: float
    processing_s: float
    stage_times: dict[str, float]

    @property
    def realtime_factor(self) -> float:
        """Seconds of video processed per second of wall time."""
        return self.duration_s / self.processing_s if self.processing_s > 0 else float("inf")


def load_models(options: VideoOptions) -> tuple[EmotionRecognizer, GruModel | None]:
    """The recognizer (the CNN of ``options.model`` + chosen detector) and, for ``gru``
    smoothing, that model's GRU (see :func:`load_shipped_gru`)."""
    recognizer = EmotionRecognizer(
        model=options.model, detector=options.detector, device=options.device, backend=options.backend
    )
    return recognizer, load_shipped_gru(recognizer) if options.smoothing == "gru" else None


def load_shipped_gru(recognizer: EmotionRecognizer) -> GruModel:
    """The shipped temporal GRU of the recognizer's model, run like its CNN: by ONNX Runtime when
    the CNN is, else by PyTorch on its device; a missing or broken file names the alternatives."""
    from fer_video.backends.gru import load_gru_for_backend
    from fer_video.checkpoint import CheckpointError

    try:
        return load_gru_for_backend(recognizer.classifier.backend_name, recognizer.device, model=recognizer.model)
    except CheckpointError as error:
        raise CheckpointError(f"{error} (train it with `fer-video train-temporal`, or use --smoothing ema)") from None


def annotate_video(
    path: str | os.PathLike,
    out_dir: str | os.PathLike,
    options: VideoOptions | None = None,
    recognizer: EmotionRecognizer | None = None,
    gru: GruModel | None = None,
    progress: Progress | None = None,
) -> VideoReport:
    """Analyse the video at ``path`` and write ``annotated.mp4`` (unless ``options.write_video``
    is off), ``timeline.csv``, ``summary.json``, ``summary.csv`` and ``timeline.png`` into
    ``out_dir``. Models are loaded unless given (pass them when annotating many videos; a given
    recognizer's model replaces ``options.model``);
    ``progress`` receives the fraction done (0..1). Raises :class:`VideoError` for unreadable
    input or an output folder that cannot (or may not) be written."""
    started = time.perf_counter()
    options = options or VideoOptions()
    if recognizer is not None:
        options = replace(options, model=recognizer.model)
    options.validate()
    timer = StageTimer()
    out_dir = Path(out_dir)
    staged = StagedOutput(out_dir, options.overwrite)
    with VideoSource(path) as source:
        if recognizer is None:
            recognizer, gru = load_models(options)
        elif options.smoothing == "gru" and gru is None:
            gru = load_shipped_gru(recognizer)
        indices = source.analysis_indices(options.fps, options.max_duration_s)
        analyzer = make_analyzer(source, options, recognizer, gru, timer, frames_to_analyse=len(indices))
        frame_limit = source.frame_limit(options.max_duration_s)
        duration = min(source.info.duration_s, options.max_duration_s or math.inf)
        summary = SummaryBuilder(analyzer.classes)
        with staged as staging:
            writer = None
            if options.write_video:
                writer = AnnotatedVideoWriter(
                    source.path, staging / ANNOTATED_VIDEO, source.info.rotation, frame_limit,
                    options.max_duration_s, timer, options.video_size,
                ).start()  # fmt: skip
            try:
                _analyse(source, indices, analyzer, staging / TIMELINE_CSV, summary, writer, timer, progress)
                if writer is not None:
                    writer.finish(on_wait=lambda: _report(progress, 1.0, writer))
            except BaseException:
                if writer is not None:
                    writer.abort()
                raise
            with timer.stage("plot"):
                plot_timeline(
                    staging / TIMELINE_CSV, staging / TIMELINE_PNG, analyzer.classes, duration,
                    f"{source.path.name}: smoothed emotion probabilities per face ({options.smoothing})",
                    f"No faces were found in {source.path.name}",
                )  # fmt: skip
                summary.write_csv(staging / SUMMARY_CSV)
            processing = time.perf_counter() - started
            facts = _run_facts(source, options, len(indices), frame_limit, duration, processing, timer)
            summary.write_json(staging / SUMMARY_JSON, facts)
            staged.commit()
    if progress is not None:
        progress(1.0)
    return VideoReport(
        out_dir=out_dir,
        timeline_csv=out_dir / TIMELINE_CSV,
        summary_json=out_dir / SUMMARY_JSON,
        summary_csv=out_dir / SUMMARY_CSV,
        timeline_png=out_dir / TIMELINE_PNG,
        annotated_video=out_dir / ANNOTATED_VIDEO if options.write_video else None,
        frames_analysed=len(indices),
        tracks=len(summary.tracks),
        duration_s=duration,
        processing_s=processing,
        stage_times=timer.as_dict(),
    )


def make_analyzer(
    source: VideoSource,
    options: VideoOptions,
    recognizer: EmotionRecognizer,
    gru: GruModel | None,
    timer: StageTimer,
    frames_to_analyse: int | None = None,
) -> FaceTrackAnalyzer:
    """An analyzer whose tracks survive :data:`MAX_GAP_S` seconds without being seen and start as
    :func:`track_birth_hits` says (one-off false detections never become tracks)."""
    own_rate = source.info.fps or 30.0
    rate = min(options.fps, own_rate) if options.fps > 0 else own_rate
    min_hits, unsure_hits = track_birth_hits(rate, frames_to_analyse)
    hysteresis = default_hysteresis(options.smoothing) if options.hysteresis else None
    return FaceTrackAnalyzer(
        recognizer, options.smoothing, gru, options.detect_every, max_gap_frames(rate), min_hits=min_hits,
        unsure_hits=unsure_hits, timer=timer,
        stabilize=options.stabilize, frame_interval_s=1.0 / rate, hysteresis=hysteresis,
    )  # fmt: skip


def _analyse(
    source: VideoSource,
    indices: np.ndarray,
    analyzer: FaceTrackAnalyzer,
    timeline_csv: Path,
    summary: SummaryBuilder,
    writer: AnnotatedVideoWriter | None,
    timer: StageTimer,
    progress: Progress | None,
) -> None:
    """Stream the analysed frames chunk by chunk (the next chunk decoding in a second thread
    meanwhile); every result goes to the CSV, the summary and the writer, in frame order as the
    analyzer releases it (two-sided smoothing holds frames back for its look-ahead)."""
    frame_bytes = source.frame_size[0] * source.frame_size[1] * 3
    chunk = int(np.clip(CHUNK_BYTES // max(frame_bytes, 1), 1, CHUNK_FRAMES))
    batches = [indices[start : start + chunk] for start in range(0, len(indices), chunk)]

    def read(batch: np.ndarray) -> np.ndarray:
        with timer.stage("decode"):
            return source.read(batch)

    done, waiting = 0, deque()
    with TimelineWriter(timeline_csv, analyzer.classes) as timeline, ThreadPoolExecutor(1, "fer-video-decode") as pool:

        def emit(released: list) -> None:
            with timer.stage("write"):
                for frame_states in released:
                    frame_states = in_input_pixels(frame_states, source.scale)
                    index = int(waiting.popleft())
                    time_s = float(source.timestamps[index])
                    timeline.write(time_s, index, frame_states)
                    summary.add(time_s, frame_states)
                    if writer is not None:
                        writer.submit(index, frame_states)

        upcoming = pool.submit(read, batches[0]) if batches else None
        for number, batch in enumerate(batches):
            frames = upcoming.result()
            upcoming = pool.submit(read, batches[number + 1]) if number + 1 < len(batches) else None
            waiting.extend(batch)
            emit(analyzer.process(frames))
            del frames
            if writer is not None:
                writer.raise_error()
            done += len(batch)
            _report(progress, done / len(indices), writer)
        emit(analyzer.finish())


def _report(progress: Progress | None, analysed: float, writer: AnnotatedVideoWriter | None) -> None:
    if progress is not None:
        progress(min(analysed, writer.progress) if writer is not None else analysed)


def _run_facts(
    source: VideoSource,
    options: VideoOptions,
    frames_analysed: int,
    frame_limit: int,
    duration: float,
    processing: float,
    timer: StageTimer,
) -> dict:
    """The input and run facts recorded in ``summary.json``."""
    info = source.info
    return {
        "video": info.path.name,
        "source": str(info.path),
        "duration_s": round(duration, 3),
        "frames": frame_limit,
        "fps": round(info.fps, 3),
        "width": info.width,
        "height": info.height,
        "rotation": info.rotation,
        "has_audio": info.has_audio,
        "options": {k: v for k, v in asdict(options).items() if k != "overwrite"},
        "frames_analysed": frames_analysed,
        "processing_s": round(processing, 3),
        "realtime_factor": round(duration / processing, 3) if processing > 0 else None,
        "stage_times": timer.as_dict(),
    }
