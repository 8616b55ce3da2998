"""Reports name the commit they were made from, and say when the code differed from it."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from fer_video.provenance import source_revision

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(root, *args):
    command = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com", *args]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


def test_changed_reports_do_not_make_the_code_uncommitted(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "results" / "bench.md").write_text("before\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "first")
    head = _git(tmp_path, "rev-parse", "--short", "HEAD")
    assert source_revision(tmp_path) == head
    (tmp_path / "results" / "bench.md").write_text("rewritten by a benchmark\n")
    assert source_revision(tmp_path) == head
    (tmp_path / "code.py").write_text("x = 2\n")
    assert source_revision(tmp_path) == f"{head} with uncommitted changes"


def test_a_folder_outside_git_says_so(tmp_path):
    assert source_revision(tmp_path).startswith("unknown")
