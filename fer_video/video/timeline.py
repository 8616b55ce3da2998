"""``timeline.csv``: one row per analysed frame and tracked face, appended while the video streams.

Columns: ``time_s, frame, track_id, x1, y1, x2, y2, det_score``, the smoothed probability of
each emotion, ``label``, then ``raw_label`` and ``raw_<emotion>`` (the CNN's unsmoothed output).
``det_score`` is empty where the box is the tracker's estimate (only with the Haar detector and ``--detect-every`` > 1;
MTCNN re-checks tracked faces between detections and scores them).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from fer_video.video.state import TrackState


def timeline_columns(classes: Sequence[str]) -> list[str]:
    """The header of ``timeline.csv`` for these emotion classes."""
    return [
        "time_s", "frame", "track_id", "x1", "y1", "x2", "y2", "det_score",
        *classes, "label", "raw_label", *(f"raw_{name}" for name in classes),
    ]  # fmt: skip


class TimelineWriter:
    """Appends rows to a CSV file as frames are analysed (nothing is kept in memory)."""

    def __init__(self, path: Path, classes: Sequence[str]) -> None:
        self.path = Path(path)
        self.classes = tuple(classes)
        self.rows = 0
        self._file = self.path.open("w", newline="")
        self._csv = csv.writer(self._file)
        self._csv.writerow(timeline_columns(self.classes))

    def write(self, time_s: float, frame: int, states: Sequence[TrackState]) -> None:
        for state in states:
            score = "" if state.det_score is None else f"{state.det_score:.4f}"
            self._csv.writerow(
                [f"{time_s:.4f}", frame, state.track_id, *(f"{v:.1f}" for v in state.box), score]
                + [f"{state.probabilities[name]:.4f}" for name in self.classes]
                + [state.label, state.raw_label]
                + [f"{state.raw_probabilities[name]:.4f}" for name in self.classes]
            )
        self.rows += len(states)

    def flush(self) -> None:
        """Push the rows written so far to the file (a live run flushes after every frame, so a
        reader of the file sees complete rows only)."""
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> TimelineWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
