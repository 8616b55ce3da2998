"""Where a result came from: the git commit of this checkout, for reports."""

from __future__ import annotations

import subprocess
from pathlib import Path


def source_revision(root: Path | None = None) -> str:
    """The git commit of this checkout, or of ``root`` (and whether tracked files other than the
    reports in ``results/`` differ from it: a benchmark that rewrites one report runs the same code)."""
    root = root or Path(__file__).resolve().parents[1]
    try:
        head = _git(root, "rev-parse", "--short", "HEAD")
        changed = _git(
            root, "--no-optional-locks", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results"
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return f"{head} with uncommitted changes" if changed else head


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True, timeout=30)
    return done.stdout.strip()
