"""One output folder per video, written all at once.

Every file is first written into a hidden staging folder beside the output folder, then moved
into place (``summary.json`` last: its ``complete`` flag marks a finished folder). A crash leaves
no half-written output behind, and an existing non-empty folder is only replaced with
``overwrite``.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

from fer_video.video.errors import VideoError

ANNOTATED_VIDEO = "annotated.mp4"
TIMELINE_CSV = "timeline.csv"
SUMMARY_JSON = "summary.json"
SUMMARY_CSV = "summary.csv"
TIMELINE_PNG = "timeline.png"
#: Everything the pipeline writes, in the order files are moved into place.
OUTPUT_FILES: tuple[str, ...] = (ANNOTATED_VIDEO, TIMELINE_CSV, SUMMARY_CSV, TIMELINE_PNG, SUMMARY_JSON)


def is_complete(out_dir: str | os.PathLike) -> bool:
    """Whether ``out_dir`` holds a finished result (a readable ``summary.json`` with ``complete``)."""
    try:
        return json.loads((Path(out_dir) / SUMMARY_JSON).read_text()).get("complete") is True
    except (OSError, ValueError, AttributeError):
        return False


def holds_only_outputs(out_dir: str | os.PathLike) -> bool:
    """Whether every entry of ``out_dir`` is one of our output files (a run interrupted while
    moving files into place), so it may be replaced without asking."""
    return all(entry.name in OUTPUT_FILES for entry in Path(out_dir).iterdir())


def _check_writable(out_dir: Path) -> None:
    """Fail early (before any work) if ``out_dir`` cannot be created or written."""
    existing = out_dir.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise VideoError(f"cannot create output folder {out_dir}: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK) or not os.access(existing.parent, os.W_OK | os.X_OK):
        raise VideoError(f"cannot write to output folder {out_dir}: permission denied")


class StagedOutput:
    """Context manager: ``with StagedOutput(out_dir, overwrite) as staging:`` write files into
    ``staging``; :meth:`commit` moves them into ``out_dir``; leaving the block removes the staging
    folder (after a failure, nothing has touched ``out_dir``)."""

    def __init__(self, out_dir: str | os.PathLike, overwrite: bool = False) -> None:
        self.out_dir = Path(out_dir)
        self.overwrite = overwrite
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise VideoError(f"output folder {self.out_dir} is a file")
        if self.out_dir.is_dir() and any(self.out_dir.iterdir()) and not overwrite:
            raise VideoError(f"output folder {self.out_dir} is not empty; pass --overwrite to replace its results")
        _check_writable(self.out_dir)
        self.staging = self.out_dir.parent / f".{self.out_dir.name}.partial-{uuid.uuid4().hex[:8]}"

    def __enter__(self) -> Path:
        try:
            self.staging.mkdir(parents=True)
        except OSError as error:
            raise VideoError(f"cannot write to output folder {self.out_dir} ({error.strerror or error})") from None
        return self.staging

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)

    def commit(self) -> None:
        """Move the staged files into ``out_dir``; our files there that this run did not
        produce (e.g. an old ``annotated.mp4`` after ``--no-video``) are removed."""
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / SUMMARY_JSON).unlink(missing_ok=True)  # incomplete until the end
            for name in OUTPUT_FILES:
                staged, final = self.staging / name, self.out_dir / name
                if staged.exists():
                    os.replace(staged, final)
                else:
                    final.unlink(missing_ok=True)
        except OSError as error:
            raise VideoError(f"cannot write to output folder {self.out_dir} ({error.strerror or error})") from None
