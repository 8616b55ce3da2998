"""Frames in, tracked faces with smoothed emotions out: detect -> track -> classify -> smooth.

:class:`FaceTrackAnalyzer` keeps its state (tracks, one smoother per track) between calls, so a
video is fed chunk by chunk (or a webcam frame by frame) and each face keeps its id and its
temporal context. The full detection runs on every ``detect_every``-th analysed frame (batched
over the chunk). In between, a detector that can re-check known faces (MTCNN's ``refine``: its
last stage alone, on the boxes the tracker expects) confirms each face with a fresh box, score
and landmarks; if a face is not where it was expected, that frame gets a full detection after
all. A detector without ``refine`` (Haar) leaves the tracker's estimates (boxes moved on by
their velocity) in between.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fer_video.faces import FaceDetections, align_faces
from fer_video.recognizer import EmotionRecognizer
from fer_video.temporal import GruModel, HysteresisSettings
from fer_video.video.smoothing_stage import SmoothingStage
from fer_video.video.stabilizer import FaceStabilizer
from fer_video.video.state import TrackState
from fer_video.video.timing import StageTimer
from fer_video.video.tracker import TENTATIVE, IouTracker


@dataclass
class _FrameFaces:
    """The confirmed faces of one frame before classification, and the tracks alive after it."""

    ids: list[int]
    faces: FaceDetections
    alive: list[int]


class FaceTrackAnalyzer:
    """Stateful per-face emotion analysis of consecutive frames (see the module docstring).

    ``smoothing`` is a :data:`fer_video.temporal.SMOOTHING_KINDS` name (``gru`` needs ``gru``:
    the PyTorch GRU or its ONNX Runtime step, see :func:`~fer_video.video.pipeline.load_shipped_gru`),
    ``hysteresis`` the rule holding the shown label (``None``: the top emotion);
    a face unseen for more than ``max_gap_frames`` analysed frames ends its track; ``min_hits``
    sightings in a row confirm a new face, ``unsure_hits`` when none of them scored
    :data:`~fer_video.video.tracker.SURE_FACE_SCORE` (see :class:`~fer_video.video.tracker.IouTracker`).
    With ``stabilize``, each track's box and landmarks are smoothed over time
    (:class:`~fer_video.video.stabilizer.FaceStabilizer`, analysed frames ``frame_interval_s``
    apart) before the face is aligned. Stage times go to ``timer``.
    """

    def __init__(
        self,
        recognizer: EmotionRecognizer,
        smoothing: str = "hmm",
        gru: GruModel | None = None,
        detect_every: int = 1,
        max_gap_frames: int = 10,
        min_hits: int = 2,
        unsure_hits: int = 5,
        timer: StageTimer | None = None,
        stabilize: bool = False,
        frame_interval_s: float = 0.1,
        hysteresis: HysteresisSettings | None = None,
    ) -> None:
        if detect_every < 1:
            raise ValueError(f"detect_every must be at least 1, got {detect_every}")
        self.smoothing_stage = SmoothingStage(smoothing, tuple(recognizer.classes), gru, frame_interval_s, hysteresis)
        self.recognizer = recognizer
        self.classes = tuple(recognizer.classes)
        self.detect_every = detect_every
        self._refine = getattr(recognizer.detector, "refine", None)
        self.tracker = IouTracker(min_hits=min_hits, unsure_hits=max(min_hits, unsure_hits))
        self.set_max_gap(max_gap_frames)
        self.timer = timer or StageTimer()
        self.stabilize = stabilize
        self.frame_interval_s = frame_interval_s
        self._stabilizers: dict[int, tuple[FaceStabilizer, int]] = {}
        self._frames_seen = 0

    def set_max_gap(self, max_gap_frames: int) -> None:
        """End a face's track once it is unseen for more than ``max_gap_frames`` analysed frames."""
        # The tracker counts misses per update: every analysed frame, unless only detections update it.
        frames_per_update = self.detect_every if self._refine is None else 1
        self.tracker.max_misses = max(1, math.ceil(max_gap_frames / frames_per_update))

    def set_track_birth(self, min_hits: int, unsure_hits: int) -> None:
        """A new face starts its track after ``min_hits`` sightings in a row, or ``unsure_hits`` when
        none of them was sure (see :class:`~fer_video.video.tracker.IouTracker`)."""
        self.tracker.set_birth(min_hits, max(min_hits, unsure_hits))

    def reset(self) -> None:
        """Forget all faces (a new video or stream)."""
        self.tracker.reset()
        self.smoothing_stage.reset()
        self._stabilizers = {}
        self._frames_seen = 0

    def process(self, frames: Sequence[np.ndarray]) -> list[list[TrackState]]:
        """Tracked faces, ordered by track id, of the analysed frames that became final, oldest
        first, after these consecutive RGB uint8 frames (H, W, 3): with causal smoothing one
        entry per frame given; with two-sided smoothing the frames come out ``lag_s`` later
        (:meth:`finish` gives the last ones)."""
        first = self._frames_seen
        detect = [(first + i) % self.detect_every == 0 for i in range(len(frames))]
        self._frames_seen += len(frames)
        with self.timer.stage("detect"):
            found = iter(self.recognizer.detector.detect([f for f, d in zip(frames, detect) if d]))
        tracked = [self._track(frame, next(found) if d else None) for frame, d in zip(frames, detect)]
        if self.stabilize:
            with self.timer.stage("stabilize"):
                for number, faces in enumerate(tracked, start=first):
                    self._stabilize(faces, number)
        with self.timer.stage("align"):
            crops = self._align(frames, tracked)
        with self.timer.stage("classify"):
            probs, embeddings = self._classify(crops)
        with self.timer.stage("smooth"):
            released, start = [], 0
            for frame, faces in zip(frames, tracked):
                end = start + len(faces.ids)
                seen = [
                    self._state(track_id, frame.shape, faces.faces, row, probs[start + row], embeddings[start + row])
                    for row, track_id in enumerate(faces.ids)
                ]
                released.extend(self.smoothing_stage.add_frame(seen, faces.alive))
                start = end
        return released

    def finish(self) -> list[list[TrackState]]:
        """The analysed frames still waiting for their smoothed output, at the end of the video."""
        with self.timer.stage("smooth"):
            return self.smoothing_stage.finish()

    def _track(self, frame: np.ndarray, detections: FaceDetections | None) -> _FrameFaces:
        """Confirmed faces of one frame: detected or re-checked ones (with ids) or, when the
        detector cannot re-check, the tracker's estimates (no score, no landmarks)."""
        if detections is None and self._refine is not None:
            detections = self._recheck(frame)
        with self.timer.stage("track"):
            if detections is None:
                shown = self.tracker.step()
                ids = [track_id for track_id, _ in shown]
                boxes = np.array([box for _, box in shown], np.float32).reshape(-1, 4)
                nan = np.full((len(ids), 5, 2), np.nan, np.float32)
                faces = FaceDetections(boxes, np.full(len(ids), np.nan, np.float32), nan)
            else:
                track_ids = self.tracker.update(detections.boxes, detections.scores)
                keep = track_ids != TENTATIVE
                ids = [int(i) for i in track_ids[keep]]
                faces = detections.select(keep)
            return _FrameFaces(ids, faces, self.tracker.active_ids)

    def _stabilize(self, faces: _FrameFaces, number: int) -> None:
        """Replace this frame's boxes and landmarks by their stabilised values, track by track
        (tracks that ended are forgotten)."""
        alive = set(faces.alive)
        self._stabilizers = {i: entry for i, entry in self._stabilizers.items() if i in alive}
        for row, track_id in enumerate(faces.ids):
            stabilizer, last = self._stabilizers.get(track_id, (FaceStabilizer(), number))
            dt = (number - last) * self.frame_interval_s
            faces.faces.boxes[row], faces.faces.landmarks[row] = stabilizer(
                faces.faces.boxes[row], faces.faces.landmarks[row], dt
            )
            self._stabilizers[track_id] = (stabilizer, number)

    def _recheck(self, frame: np.ndarray) -> FaceDetections:
        """The faces seen at the last update, re-checked where the tracker expects them; a full
        detection of the frame if any of them is not found there."""
        expected = self.tracker.expected_boxes()
        with self.timer.stage("refine"):
            found = self._refine(frame, expected)
        if len(found) < len(expected):
            with self.timer.stage("detect"):
                found = self.recognizer.detector.detect([frame])[0]
        return found

    def _align(self, frames: Sequence[np.ndarray], tracked: list[_FrameFaces]) -> np.ndarray:
        """Aligned crops of every tracked face of every frame, in order."""
        size, margin = self.recognizer.input_size, self.recognizer.margin
        crops = [align_faces(frame, faces.faces, size, margin) for frame, faces in zip(frames, tracked)]
        return np.concatenate(crops) if crops else np.zeros((0, size, size), np.uint8)

    def _classify(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """CNN probabilities and embeddings of all crops, in one batch."""
        if not len(crops):
            return np.zeros((0, len(self.classes)), np.float32), np.zeros((0, 0), np.float32)
        return self.recognizer.classifier.predict(crops)

    def _state(
        self,
        track_id: int,
        shape: tuple[int, ...],
        faces: FaceDetections,
        row: int,
        raw: np.ndarray,
        embedding: np.ndarray,
    ) -> TrackState:
        """One face's state with its raw CNN output; the smoothing stage fills in the smoothed fields."""
        height, width = shape[:2]
        x1, y1, x2, y2 = (float(v) for v in faces.boxes[row])
        box = (max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2))
        score = float(faces.scores[row])
        raw_top = int(np.argmax(raw))
        return TrackState(
            track_id=track_id,
            box=box,
            probabilities={},
            label="",
            confidence=float("nan"),
            raw_probabilities={name: float(p) for name, p in zip(self.classes, raw)},
            raw_label=self.classes[raw_top],
            det_score=None if np.isnan(score) else score,
            embedding=embedding,
        )
