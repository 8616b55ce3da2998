"""Per-track summaries (``summary.json`` / ``summary.csv``), accumulated frame by frame.

For each track: first and last time seen, duration, number of analysed frames, the share of
those frames per smoothed label (analysed frames are evenly spaced in time, so this is the
share of time), the mean smoothed probabilities and the dominant emotion (largest share).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fer_video.video.state import TrackState

NO_FACES_MESSAGE = "no faces were found"


@dataclass
class TrackSummary:
    """Running totals for one track (constant size, however long the video)."""

    track_id: int
    first_s: float
    last_s: float = 0.0
    frames: int = 0
    label_counts: dict[str, int] = field(default_factory=dict)
    probability_sums: np.ndarray | None = None

    def add(self, time_s: float, state: TrackState, classes: Sequence[str]) -> None:
        self.last_s = time_s
        self.frames += 1
        self.label_counts[state.label] = self.label_counts.get(state.label, 0) + 1
        probs = np.array([state.probabilities[name] for name in classes], np.float64)
        self.probability_sums = probs if self.probability_sums is None else self.probability_sums + probs

    def to_dict(self, classes: Sequence[str]) -> dict[str, Any]:
        share = {name: round(self.label_counts.get(name, 0) / self.frames, 4) for name in classes}
        mean = self.probability_sums / self.frames
        return {
            "track_id": self.track_id,
            "first_s": round(self.first_s, 3),
            "last_s": round(self.last_s, 3),
            "duration_s": round(self.last_s - self.first_s, 3),
            "frames": self.frames,
            "dominant": max(classes, key=lambda name: (share[name], mean[classes.index(name)])),
            "share": share,
            "mean_probabilities": {name: round(float(p), 4) for name, p in zip(classes, mean)},
        }


class SummaryBuilder:
    """Collects :class:`TrackSummary` totals while a video is analysed, then writes both files."""

    def __init__(self, classes: Sequence[str]) -> None:
        self.classes = list(classes)
        self.tracks: dict[int, TrackSummary] = {}

    def add(self, time_s: float, states: Sequence[TrackState]) -> None:
        for state in states:
            track = self.tracks.setdefault(state.track_id, TrackSummary(state.track_id, first_s=time_s))
            track.add(time_s, state, self.classes)

    def track_dicts(self) -> list[dict[str, Any]]:
        return [self.tracks[i].to_dict(self.classes) for i in sorted(self.tracks)]

    def message(self) -> str:
        count = len(self.tracks)
        return NO_FACES_MESSAGE if not count else f"{count} face track{'s' if count != 1 else ''} found"

    def write_json(self, path: Path, video: dict[str, Any]) -> None:
        """``summary.json``: ``video`` (facts about the input and the run), the tracks, and
        ``complete: true`` (the marker a resumed batch looks for)."""
        payload = {
            **video,
            "faces_found": bool(self.tracks),
            "message": self.message(),
            "tracks": self.track_dicts(),
            "complete": True,
        }
        Path(path).write_text(json.dumps(payload, indent=2) + "\n")

    def write_csv(self, path: Path) -> None:
        """``summary.csv``: one row per track (header only when no face was found)."""
        columns = ["track_id", "first_s", "last_s", "duration_s", "frames", "dominant"]
        columns += [f"share_{name}" for name in self.classes] + [f"mean_{name}" for name in self.classes]
        with Path(path).open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for track in self.track_dicts():
                writer.writerow(
                    [track[key] for key in columns[:6]]
                    + [track["share"][name] for name in self.classes]
                    + [track["mean_probabilities"][name] for name in self.classes]
                )
