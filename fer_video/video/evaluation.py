"""Scoring the video path on real clips: each clip is traced once, then every smoothing is scored.

:func:`trace_clip` runs the analysis (decode -> detect -> track -> stabilise -> classify) over a
clip with no smoothing and keeps, for every analysed frame, whether a face was found and the raw
CNN output (probabilities and embedding) of the *main track* (the face seen on most frames).
Smoothing is per track and never feeds back into tracking, so any smoothing applied to a trace
with :func:`smoothed_labels` gives the labels ``fer-video video`` would write for that face.
Traces are cached (``cache_dir()/real_video``), keyed by the clip's bytes, the CNN and the options.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from fer_video.cache import cache_dir
from fer_video.checkpoint import file_sha256, hardware_description

#: Bump when what a trace holds or how it is made changes (old cache entries are then ignored;
#: 3: frames decoded by PyAV instead of decord; 4: frames above 1080p analysed at 1080p).
TRACE_VERSION = 4


@dataclass
class ClipTrace:
    """One clip's analysis, frame by frame. ``times`` (T,) analysed frame times in seconds;
    ``face`` (T,) whether any face was tracked; ``present`` (T,) whether the main track was;
    ``probs`` (T, C) and ``embeddings`` (T, D) its raw CNN outputs (zeros where absent);
    ``interval_s`` the frame interval the pipeline's smoothers assume; ``tracks`` how many face
    tracks the clip had."""

    name: str
    times: np.ndarray
    face: np.ndarray
    present: np.ndarray
    probs: np.ndarray
    embeddings: np.ndarray
    interval_s: float
    tracks: int

    @property
    def duration_s(self) -> float:
        """The analysed span: from the first analysed frame to one frame step after the last."""
        if len(self.times) < 2:
            return float(len(self.times)) * 0.1
        step = float(np.median(np.diff(self.times)))
        return float(self.times[-1] - self.times[0]) + step


def trace_clip(path: str | os.PathLike, recognizer, options) -> ClipTrace:
    """The :class:`ClipTrace` of the video at ``path`` analysed with ``options`` (a
    :class:`~fer_video.video.pipeline.VideoOptions`; its smoothing is ignored)."""
    from fer_video.video.decode import VideoSource
    from fer_video.video.pipeline import CHUNK_FRAMES, make_analyzer
    from fer_video.video.timing import StageTimer

    options = replace(options, smoothing="none")
    with VideoSource(path) as source:
        indices = source.analysis_indices(options.fps, options.max_duration_s)
        analyzer = make_analyzer(source, options, recognizer, None, StageTimer(), frames_to_analyse=len(indices))
        times = np.asarray(source.timestamps[indices], np.float64)
        per_frame = []
        for start in range(0, len(indices), CHUNK_FRAMES):
            per_frame.extend(analyzer.process(source.read(indices[start : start + CHUNK_FRAMES])))
        per_frame.extend(analyzer.finish())
    classes = analyzer.classes
    counts: dict[int, int] = {}
    for states in per_frame:
        for state in states:
            counts[state.track_id] = counts.get(state.track_id, 0) + 1
    main = max(counts, key=lambda i: (counts[i], -i)) if counts else None
    dim = recognizer.classifier.embedding_dim
    probs = np.zeros((len(per_frame), len(classes)), np.float32)
    embeddings = np.zeros((len(per_frame), dim), np.float32)
    present = np.zeros(len(per_frame), bool)
    for t, states in enumerate(per_frame):
        for state in states:
            if state.track_id == main:
                present[t] = True
                probs[t] = [state.raw_probabilities[name] for name in classes]
                embeddings[t] = state.embedding
    face = np.array([bool(states) for states in per_frame])
    return ClipTrace(Path(path).name, times, face, present, probs, embeddings, analyzer.frame_interval_s, len(counts))


def trace_key(path: str | os.PathLike, cnn_sha256: str, options, runtime: str) -> str:
    """Cache key of a trace: the clip's content, the CNN, every analysis option but smoothing, and
    ``runtime`` (what ran the CNN, and on which machine: :func:`trace_runtime`)."""
    settings = {k: v for k, v in asdict(options).items() if k not in ("smoothing", "write_video", "overwrite")}
    text = json.dumps({"v": TRACE_VERSION, "clip": file_sha256(path), "cnn": cnn_sha256, "options": settings,
                       "runtime": runtime}, sort_keys=True, default=str)  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def trace_runtime(recognizer) -> str:
    """The backend ``recognizer`` runs its CNN with (``auto`` resolved), the machine and ONNX Runtime's version
    (it runs MTCNN on the CPU, and the CNN with the ONNX backends): int8 kernels differ between CPUs and
    releases, so a trace cached by one is not reused by another."""
    import onnxruntime

    return f"{recognizer.classifier.backend_name}; {hardware_description()}; onnxruntime {onnxruntime.__version__}"


def cached_trace(path: str | os.PathLike, recognizer, options, cnn_sha256: str, use_cache: bool = True) -> ClipTrace:
    """:func:`trace_clip`, read from / written to the trace cache."""
    folder = cache_dir() / "real_video"
    file = folder / f"{trace_key(path, cnn_sha256, options, trace_runtime(recognizer))}.npz"
    if use_cache and file.is_file():
        with np.load(file) as data:
            return ClipTrace(
                str(data["name"]), data["times"], data["face"], data["present"], data["probs"],
                data["embeddings"], float(data["interval_s"]), int(data["tracks"]),
            )  # fmt: skip
    trace = trace_clip(path, recognizer, options)
    if use_cache:
        folder.mkdir(parents=True, exist_ok=True)
        partial = file.with_suffix(".partial.npz")
        np.savez(partial, name=trace.name, times=trace.times, face=trace.face, present=trace.present,
                 probs=trace.probs, embeddings=trace.embeddings, interval_s=trace.interval_s, tracks=trace.tracks)  # fmt: skip
        os.replace(partial, file)
    return trace


@dataclass
class ClipSet:
    """Clips scored together: ``name`` (what the user gave), and each clip's path and label
    (``None``: unlabelled, or a label outside the model's classes, e.g. MEAD's contempt)."""

    name: str
    clips: list[tuple[Path, str | None]]


def read_clip_set(spec: str, classes: tuple[str, ...]) -> ClipSet:
    """The clips named by ``spec``: a labels CSV (columns ``file,label``; files relative to the
    CSV), a folder of videos, or a glob pattern. Raises ``ValueError`` naming the problem."""
    import csv
    import glob

    from fer_video.video.decode import VIDEO_SUFFIXES

    path = Path(spec)
    if path.suffix.lower() == ".csv":
        if not path.is_file():
            raise ValueError(f"labels file {spec} not found")
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        if not rows or not {"file", "label"} <= set(rows[0]):
            raise ValueError(f"{spec} needs a header with the columns file,label")
        clips = [(path.parent / row["file"], row["label"] if row["label"] in classes else None) for row in rows]
    elif path.is_dir():
        clips = [(p, None) for p in sorted(path.iterdir()) if p.suffix.lower() in VIDEO_SUFFIXES]
    else:
        clips = [(Path(p), None) for p in sorted(glob.glob(spec)) if Path(p).suffix.lower() in VIDEO_SUFFIXES]
    if not clips:
        raise ValueError(f"no video clips found in {spec}")
    missing = [str(clip) for clip, _ in clips if not clip.is_file()]
    if missing:
        raise ValueError(f"{spec}: {len(missing)} clip(s) not found, e.g. {missing[0]}")
    return ClipSet(spec, clips)


@dataclass
class ScoredSet:
    """One clip set's traces with each clip's label index (``None``: unlabelled)."""

    name: str
    traces: list[ClipTrace]
    truths: list[int | None]


def trace_clip_set(
    clip_set: ClipSet,
    recognizer,
    options,
    cnn_sha256: str,
    use_cache: bool = True,
    failed: list[str] | None = None,
    advance: Callable[[], object] | None = None,
) -> ScoredSet:
    """Every clip of ``clip_set`` traced (:func:`cached_trace`) with its label's index in the recognizer's
    classes. With a ``failed`` list, a clip that cannot be read is left out and named there ("path: why")
    instead of raising; ``advance`` is called after each clip (a progress bar's update)."""
    from fer_video.video.errors import VideoError

    traces, truths = [], []
    for path, label in clip_set.clips:
        try:
            traces.append(cached_trace(path, recognizer, options, cnn_sha256, use_cache=use_cache))
            truths.append(recognizer.classes.index(label) if label else None)
        except VideoError as error:
            if failed is None:
                raise
            failed.append(f"{path}: {error}")
        if advance is not None:
            advance()
    return ScoredSet(clip_set.name, traces, truths)


def shown_output(
    trace: ClipTrace,
    kind: str,
    gru=None,
    hysteresis: bool = True,
    ema_alpha: float | None = None,
    hmm=None,
    rule=None,
) -> tuple[np.ndarray, np.ndarray]:
    """The label ``fer-video video --smoothing kind`` shows for the clip's main track on each analysed
    frame (class indices; meaningful where ``trace.present``) and the confidence shown with it (the
    smoothed probability of that label): the same smoother and, unless ``hysteresis`` is off or
    ``kind`` is ``none``, the same shown-label rule as the pipeline (``hmm`` and ``rule`` replace the
    kind's default HMM and hysteresis settings)."""
    from fer_video.temporal import DEFAULT_EMA_ALPHA, hysteresis_labels, smooth_sequence
    from fer_video.temporal.hysteresis import default_hysteresis, shown_label_rule

    interval = trace.interval_s
    alpha = DEFAULT_EMA_ALPHA if ema_alpha is None else ema_alpha
    probs = smooth_sequence(kind, trace.probs, trace.embeddings, gru, alpha, trace.present, interval, hmm)
    shown = shown_label_rule(kind, (rule or default_hysteresis(kind)) if hysteresis else None)
    labels = probs.argmax(axis=1) if shown is None else hysteresis_labels(probs, trace.present, shown, interval)
    return labels, probs[np.arange(len(labels)), labels]


def smoothed_labels(trace: ClipTrace, kind: str, gru=None, hysteresis: bool = True, ema_alpha: float | None = None,
                    hmm=None, rule=None) -> np.ndarray:  # fmt: skip
    """The labels of :func:`shown_output` alone."""
    return shown_output(trace, kind, gru, hysteresis, ema_alpha, hmm, rule)[0]


#: A smoothing under test: the trace in, the main track's shown label and confidence per analysed frame out.
ShownFn = Callable[[ClipTrace], tuple[np.ndarray, np.ndarray]]


def switches(labels: np.ndarray, present: np.ndarray) -> int:
    """Changes of label between consecutive frames where the face is present."""
    seen = labels[present]
    return int(np.count_nonzero(seen[1:] != seen[:-1]))


def dominant(labels: np.ndarray, present: np.ndarray, num_classes: int) -> int:
    """The label shown on most present frames (ties: the lower class index); -1 without a face."""
    if not present.any():
        return -1
    return int(np.argmax(np.bincount(labels[present], minlength=num_classes)))


def clip_scores(trace: ClipTrace, labels: np.ndarray, truth: int | None, num_classes: int) -> dict[str, float]:
    """One clip's figures for one smoothing: switches per minute on the main track, share of
    frames with a face, and with a label ``truth`` (class index): frame accuracy of the main track
    and whether the dominant label is right."""
    minutes = trace.duration_s / 60
    scores = {
        "frames": int(len(trace.times)),
        "face_share": float(trace.face.mean()) if len(trace.face) else 0.0,
        "switches_per_min": switches(labels, trace.present) / minutes if minutes > 0 else 0.0,
        "dominant": dominant(labels, trace.present, num_classes),
    }
    if truth is not None:
        scores["frame_acc"] = float(np.mean(labels[trace.present] == truth)) if trace.present.any() else 0.0
        scores["dominant_ok"] = float(scores["dominant"] == truth)
    return scores
