"""Face tracks over time: IoU matching with Hungarian assignment and a constant-velocity guess.

A new face is *tentative* until it has been found in ``min_hits`` consecutive updates
(detections, or re-checks of the expected boxes; one-off false detections never get an id)
with at least one detection scoring :data:`SURE_FACE_SCORE` or more, or in ``unsure_hits``
consecutive updates when none did (a track starts on stronger evidence than it continues on,
as in ByteTrack's two thresholds); then it gets the next track id. A track survives up to
``max_misses`` updates without a match, its box drifting with its velocity meanwhile; after
that it ends, and a face that comes back gets a new id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

#: Id given to detections that belong to a tentative (not yet confirmed) track.
TENTATIVE = -1

#: Detector score that lets a new face start its track after ``min_hits`` sightings. MTCNN gives
#: the real faces of the clips in ``../shared/data/real_video`` 0.978 or more on 99.9 % of frames;
#: the false faces it finds in photos and generated video (a space-suit collar) score 0.94-1.0.
SURE_FACE_SCORE = 0.97


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in ``a`` (N, 4) with every box in ``b`` (M, 4), x1 y1 x2 y2."""
    a = np.asarray(a, np.float64).reshape(-1, 4)[:, None]
    b = np.asarray(b, np.float64).reshape(-1, 4)[None]
    width = (np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])).clip(0)
    height = (np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])).clip(0)
    inter = width * height
    area_a = (a[..., 2] - a[..., 0]).clip(0) * (a[..., 3] - a[..., 1]).clip(0)
    area_b = (b[..., 2] - b[..., 0]).clip(0) * (b[..., 3] - b[..., 1]).clip(0)
    union = area_a + area_b - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


@dataclass
class Track:
    """One face over time. ``box`` is the current estimate: the last detection (``seen_box``),
    moved on by ``velocity`` for every frame since; ``track_id`` is :data:`TENTATIVE` until confirmed."""

    box: np.ndarray
    seen_box: np.ndarray
    track_id: int = TENTATIVE
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))
    hits: int = 1
    best_score: float = 1.0
    misses: int = 0
    frames_since_seen: int = 0

    @property
    def confirmed(self) -> bool:
        return self.track_id != TENTATIVE

    def predict(self) -> None:
        self.box = self.box + self.velocity
        self.frames_since_seen += 1

    def observe(self, box: np.ndarray, score: float) -> None:
        step = (box - self.seen_box) / max(self.frames_since_seen, 1)
        self.velocity = 0.5 * self.velocity + 0.5 * step
        self.box = self.seen_box = box.copy()
        self.hits += 1
        self.best_score = max(self.best_score, score)
        self.misses = 0
        self.frames_since_seen = 0

    def miss(self) -> None:
        self.misses += 1
        self.velocity = self.velocity * 0.5  # an unseen face more likely stopped than flew off


class IouTracker:
    """Gives each detected face a stable track id across frames.

    Call :meth:`update` with each detection step's boxes; on frames analysed without detection,
    :meth:`step` moves the tracks on and returns the boxes of those seen at the last detection.
    """

    def __init__(
        self, iou_threshold: float = 0.3, max_misses: int = 10, min_hits: int = 2, unsure_hits: int | None = None
    ) -> None:
        if not 0 < iou_threshold <= 1:
            raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
        if max_misses < 0:
            raise ValueError(f"need max_misses >= 0, got {max_misses}")
        self.iou_threshold = iou_threshold
        self.max_misses = max_misses
        self.set_birth(min_hits, unsure_hits)
        self.tracks: list[Track] = []
        self._next_id = 1

    def set_birth(self, min_hits: int, unsure_hits: int | None = None) -> None:
        """Consecutive sightings that confirm a new face: ``min_hits`` when one of them was sure,
        ``unsure_hits`` (default ``min_hits``) when none was; tentative faces count on."""
        unsure_hits = min_hits if unsure_hits is None else unsure_hits
        if min_hits < 1:
            raise ValueError(f"need min_hits >= 1, got {min_hits}")
        if unsure_hits < min_hits:
            raise ValueError(f"unsure_hits ({unsure_hits}) must be at least min_hits ({min_hits})")
        self.min_hits, self.unsure_hits = min_hits, unsure_hits

    def reset(self) -> None:
        """Forget every track; ids start again at 1."""
        self.tracks = []
        self._next_id = 1

    @property
    def active_ids(self) -> list[int]:
        """Ids of the confirmed tracks still alive (seen now or within ``max_misses`` steps)."""
        return [track.track_id for track in self.tracks if track.confirmed]

    def update(self, boxes: np.ndarray, scores: np.ndarray | None = None) -> np.ndarray:
        """Match this step's detections (N, 4) to the tracks; returns each detection's track id
        (:data:`TENTATIVE` for a face not yet confirmed). ``scores`` (N,): the detector's; without
        them (or where NaN: a detector with no score) every detection counts as sure."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        sure = np.ones(len(boxes)) if scores is None else np.nan_to_num(np.asarray(scores, np.float64), nan=1.0)
        if sure.shape != (len(boxes),):
            raise ValueError(f"need one score per box, got {sure.shape} for {len(boxes)} boxes")
        for track in self.tracks:
            track.predict()
        ids = np.full(len(boxes), TENTATIVE, dtype=np.int64)
        pairs = self._match(boxes)
        for row, col in pairs:
            self.tracks[row].observe(boxes[col], float(sure[col]))
            ids[col] = self._confirm(self.tracks[row])
        matched_rows = {row for row, _ in pairs}
        for row, track in enumerate(self.tracks):
            if row not in matched_rows:
                track.miss()
        self.tracks = [t for t in self.tracks if t.misses <= (self.max_misses if t.confirmed else 0)]
        matched_cols = {col for _, col in pairs}
        for col in range(len(boxes)):
            if col not in matched_cols:
                track = Track(box=boxes[col].copy(), seen_box=boxes[col].copy(), best_score=float(sure[col]))
                self.tracks.append(track)
                ids[col] = self._confirm(track)
        return ids

    def _match(self, boxes: np.ndarray) -> list[tuple[int, int]]:
        """(track index, detection index) pairs of the assignment with the most overlap, each
        pair overlapping at least ``iou_threshold``."""
        if not self.tracks or not len(boxes):
            return []
        overlap = iou_matrix(np.stack([t.box for t in self.tracks]), boxes)
        # On equal overlap an established face keeps its detection before a tentative one;
        # pairs below the threshold cost so much that the assignment avoids them if it can.
        tentative = np.array([0.0 if t.confirmed else 1e-3 for t in self.tracks])[:, None]
        cost = np.where(overlap >= self.iou_threshold, 1.0 - overlap + tentative, 1e3)
        rows, cols = linear_sum_assignment(cost)
        return [(int(r), int(c)) for r, c in zip(rows, cols) if overlap[r, c] >= self.iou_threshold]

    def expected_boxes(self) -> np.ndarray:
        """Where the tracks seen at the last update (confirmed or tentative) should be one frame
        later (N, 4): the boxes a detector's re-check (``MTCNNDetector.refine``) looks in."""
        boxes = [track.box + track.velocity for track in self.tracks if track.misses == 0]
        return np.array(boxes, np.float32).reshape(-1, 4)

    def step(self) -> list[tuple[int, np.ndarray]]:
        """Move the tracks on one frame without detection; ``(track_id, box)`` of each confirmed
        track that was seen at the last detection step."""
        shown = []
        for track in self.tracks:
            track.predict()
            if track.confirmed and track.misses == 0:
                shown.append((track.track_id, track.box.copy()))
        return shown

    def _confirm(self, track: Track) -> int:
        needed = self.min_hits if track.best_score >= SURE_FACE_SCORE else self.unsure_hits
        if not track.confirmed and track.hits >= needed:
            track.track_id = self._next_id
            self._next_id += 1
        return track.track_id
