"""Where the app writes: example files and one folder per video analysis, pruned by age."""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class AppWorkspace:
    """A folder owned by one app process (under the system temp dir by default, which Gradio
    may serve files from): ``examples/`` and ``runs/<unique>/`` per video analysis. Runs older
    than ``max_age_s`` are deleted when a new one starts, so disk use stays bounded."""

    root: Path
    max_age_s: float = 3600.0

    @classmethod
    def create(cls, parent: str | Path | None = None, max_age_s: float = 3600.0) -> AppWorkspace:
        base = Path(parent or tempfile.gettempdir())
        base.mkdir(parents=True, exist_ok=True)
        return cls(Path(tempfile.mkdtemp(prefix="fer-video-app-", dir=base)), max_age_s)

    @property
    def examples(self) -> Path:
        folder = self.root / "examples"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def new_run(self) -> Path:
        """A fresh, empty folder for one analysis (old runs are removed first)."""
        runs = self.root / "runs"
        runs.mkdir(parents=True, exist_ok=True)
        self.prune(runs)
        return Path(tempfile.mkdtemp(dir=runs))

    def prune(self, runs: Path) -> None:
        cutoff = time.time() - self.max_age_s
        for folder in runs.iterdir():
            if folder.is_dir() and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)

    def remove(self) -> None:
        """Delete everything this workspace wrote."""
        shutil.rmtree(self.root, ignore_errors=True)
