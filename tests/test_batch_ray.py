"""``fer-video batch --engine ray`` on a real local Ray instance: the same outputs and report as
the local engine, a broken file reported, and a run whose worker was killed mid-video resumed."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_video import astronaut_frames, write_video

from fer_video.cli import main
from fer_video.video import VideoOptions, annotate_batch
from fer_video.video.ray_engine import annotate_batch_ray

OPTIONS = ["--fps", "4", "--smoothing", "ema", "--no-video"]
GOOD = ("talk", "pan")


@pytest.fixture(scope="module")
def ray_instance():
    """One local Ray instance for the module (starting one takes seconds)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def videos(astronaut, tmp_path_factory) -> Path:
    """Two short clips with the astronaut's face and one corrupt file."""
    folder = tmp_path_factory.mktemp("videos")
    write_video(folder / "talk.mp4", astronaut_frames(astronaut, 12))
    write_video(folder / "pan.mp4", astronaut_frames(astronaut, 16, gap=range(6, 9), size=(240, 180)))
    (folder / "broken.mp4").write_bytes(b"\x00" * 5000)
    return folder


@pytest.fixture(scope="module")
def local_out(videos, tmp_path_factory) -> Path:
    """The local engine's results: the reference."""
    out = tmp_path_factory.mktemp("local")
    assert main(["batch", str(videos), "--out", str(out), *OPTIONS]) == 1
    return out


def same_results(out: Path, reference: Path, name: str) -> bool:
    """The same timeline and per-track summary: same rows, boxes, labels and tracks; probabilities
    equal up to float rounding (a Ray worker runs torch on its own number of threads)."""
    for file in ("timeline.csv", "summary.csv"):
        ours, theirs = pd.read_csv(out / name / file), pd.read_csv(reference / name / file)
        if list(ours.columns) != list(theirs.columns) or ours.shape != theirs.shape:
            return False
        numbers = ours.select_dtypes("number").columns
        if not ours.drop(columns=numbers).equals(theirs.drop(columns=numbers)):
            return False
        if not np.allclose(ours[numbers], theirs[numbers], rtol=0, atol=2e-3, equal_nan=True):
            return False
    return True


def leftovers(out: Path) -> list[Path]:
    return list(out.glob(".*.partial-*"))


def test_ray_engine_matches_the_local_engine_and_resumes(ray_instance, videos, local_out, tmp_path, capsys):
    capsys.readouterr()
    args = ["batch", str(videos), "--out", str(tmp_path), *OPTIONS, "--engine", "ray", "--max-retries", "1"]
    assert main(args) == 1
    printed = capsys.readouterr()
    assert "FAILED" in printed.err and "broken.mp4" in printed.err and "Traceback" not in printed.err
    assert "2 done, 0 skipped, 1 failed" in printed.out
    assert all(same_results(tmp_path, local_out, name) for name in GOOD)
    assert not (tmp_path / "broken").exists() and not leftovers(tmp_path)
    markers = {name: (tmp_path / name / "summary.json").stat().st_mtime_ns for name in GOOD}
    assert main(args) == 1
    assert "0 done, 2 skipped, 1 failed" in capsys.readouterr().out
    assert markers == {name: (tmp_path / name / "summary.json").stat().st_mtime_ns for name in GOOD}


def test_what_a_dead_run_left_is_cleared_and_the_rerun_finishes(ray_instance, videos, local_out, tmp_path):
    """``talk`` died while its files moved into place (no finished marker), ``pan`` while staging."""
    (tmp_path / "talk").mkdir()
    (tmp_path / "talk" / "timeline.csv").write_text("time_s,frame\n0.0,")
    staging = tmp_path / ".pan.partial-0badc0de"
    staging.mkdir()
    (staging / "timeline.csv").write_text("time_s,frame\n0.0,")
    options = VideoOptions(fps=4, smoothing="ema", write_video=False)
    report = annotate_batch_ray([videos / f"{name}.mp4" for name in GOOD], tmp_path, options)
    assert report.ok and len(report.successes) == 2
    assert all(same_results(tmp_path, local_out, name) for name in GOOD) and not leftovers(tmp_path)


def worker_writing_into(folder: Path) -> int | None:
    """The id of a process (the Ray worker) holding a file open under ``folder``."""
    for fds in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd).startswith(f"{folder}/") for fd in fds.iterdir()):
                return int(fds.parent.name)
        except OSError:  # the process ended or is not ours to look at
            continue
    return None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the worker through /proc")
@pytest.mark.parametrize("max_retries", [1, 0])
def test_a_worker_killed_mid_video(ray_instance, astronaut, tmp_path, max_retries):
    """With a retry, the batch finishes; without, the video is reported and a rerun finishes it.
    Either way the result equals an uninterrupted run's and no staged files are left."""
    long_clip = write_video(tmp_path / "long.mp4", astronaut_frames(astronaut, 60))
    options = VideoOptions(fps=0, smoothing="ema", write_video=False)
    reference = annotate_batch([long_clip], tmp_path / "reference", options)
    out = tmp_path / "out"
    outcome = {}

    def batch() -> None:
        outcome["report"] = annotate_batch_ray([long_clip], out, options, max_retries=max_retries)

    run = threading.Thread(target=batch)
    run.start()
    killed = False
    while run.is_alive() and not killed:
        staging = next(iter(leftovers(out)), None) if out.is_dir() else None
        pid = worker_writing_into(staging) if staging else None
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            killed = True
        time.sleep(0.02)
    run.join()
    assert killed, "the video finished before its worker could be killed"
    report = outcome["report"]
    if max_retries == 0:
        assert "the worker died" in report.failures[long_clip] and not (out / "long" / "summary.json").exists()
        report = annotate_batch_ray([long_clip], out, options, max_retries=0)
    assert report.ok and json.loads((out / "long" / "summary.json").read_text())["complete"]
    assert same_results(out, tmp_path / "reference", "long") and not leftovers(out)
    assert reference.ok


def test_without_ray_the_cli_says_how_to_install_it(videos, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    assert main(["batch", str(videos), "--out", str(tmp_path), "--engine", "ray"]) == 2
    assert 'pip install -e ".[ray]"' in capsys.readouterr().err


def test_ray_options_are_checked(ray_instance, videos, tmp_path, capsys):
    assert main(["batch", str(videos), "--out", str(tmp_path), "--address", "auto"]) == 2
    assert "--address only apply with --engine ray" in capsys.readouterr().err
    assert main(["batch", str(videos), "--out", str(tmp_path), "--engine", "ray", "--cpus-per-task", "3"]) == 2
    assert "cannot hold a worker with 3 CPUs" in capsys.readouterr().err
    assert main(["batch", str(videos), "--out", str(tmp_path), "--engine", "ray", "--max-retries", "-1"]) == 2
    assert not any(tmp_path.iterdir())
