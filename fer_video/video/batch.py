"""``annotate_batch``: many videos, one output folder each (``OUT/<video stem>/``), resumable.

Models are loaded once for the whole batch (and not at all when every video is already done).
A folder whose ``summary.json`` says ``complete`` is skipped unless ``overwrite``; a broken
video is recorded with its message and the batch goes on. What a killed run left behind (staging
folders, a folder of our files without the finished marker) is cleared when the video is redone.
The planning (:func:`plan_batch`) and the per-video step (:func:`annotate_into`) are shared with
the Ray engine (:mod:`fer_video.video.ray_engine`).
"""

from __future__ import annotations

import glob
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from tqdm import tqdm

from fer_video.recognizer import EmotionRecognizer
from fer_video.temporal import GruModel
from fer_video.video.decode import VIDEO_SUFFIXES
from fer_video.video.errors import VideoError
from fer_video.video.outputs import holds_only_outputs, is_complete
from fer_video.video.pipeline import VideoOptions, VideoReport, annotate_video, load_models


@dataclass
class BatchReport:
    """Outcome per input: ``successes`` (with their reports), ``skipped`` (already complete) and
    ``failures`` (input -> one-line message; also patterns that matched no file)."""

    successes: dict[Path, VideoReport] = field(default_factory=dict)
    skipped: list[Path] = field(default_factory=list)
    failures: dict[Path, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures


def find_videos(inputs: Sequence[str | os.PathLike]) -> tuple[list[Path], dict[Path, str]]:
    """Video files named by ``inputs`` (files, folders, glob patterns), in order, without
    repeats; and a message for each input that names none. Folders contribute their files
    with a video suffix; a file named explicitly is taken whatever its suffix."""
    found: dict[Path, None] = {}
    problems: dict[Path, str] = {}
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            members = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
            if not members:
                problems[path] = f"no video files in folder {path}"
        elif path.exists() or not glob.has_magic(str(item)):
            members = [path]  # a missing or unreadable file is reported when it is opened
        else:
            members = sorted(Path(p) for p in glob.glob(str(item), recursive=True) if Path(p).is_file())
            if not members:
                problems[path] = f"no files match {item}"
        found.update(dict.fromkeys(members))
    return list(found), problems


def output_dirs(videos: Sequence[Path], out_root: Path) -> list[Path]:
    """``out_root/<stem>`` per video; stems shared by several inputs get the suffix added
    (``clip_mov``) and then a number, so no two videos share a folder."""
    stems = [video.stem for video in videos]
    names, used = [], set()
    for video, stem in zip(videos, stems):
        name = stem if stems.count(stem) == 1 else f"{stem}_{video.suffix.lstrip('.').lower()}"
        base, copy = name, 2
        while name in used:
            name, copy = f"{base}_{copy}", copy + 1
        used.add(name)
        names.append(out_root / name)
    return names


def plan_batch(
    inputs: Sequence[str | os.PathLike], out_root: str | os.PathLike, options: VideoOptions
) -> tuple[list[tuple[Path, Path]], BatchReport]:
    """The videos still to annotate, each with its output folder, and a report that already holds
    the inputs that name no video (failures) and the finished videos (skipped unless ``overwrite``)."""
    videos, problems = find_videos(inputs)
    report = BatchReport(failures=dict(problems))
    jobs = []
    for video, out_dir in zip(videos, output_dirs(videos, Path(out_root))):
        if is_complete(out_dir) and not options.overwrite:
            report.skipped.append(video)
        else:
            jobs.append((video, out_dir))
    return jobs, report


def annotate_into(
    video: Path,
    out_dir: Path,
    options: VideoOptions,
    recognizer: EmotionRecognizer,
    gru: GruModel | None,
    progress: Callable[[float], None] | None = None,
) -> VideoReport:
    """:func:`annotate_video` for one video of a batch: first clears what a killed run left in
    ``out_dir`` (its staging folders, and our files without the finished marker)."""
    for staging in out_dir.parent.glob(f".{glob.escape(out_dir.name)}.partial-*"):  # see StagedOutput
        shutil.rmtree(staging, ignore_errors=True)
    interrupted = out_dir.is_dir() and holds_only_outputs(out_dir)
    run_options = replace(options, overwrite=options.overwrite or interrupted)
    return annotate_video(video, out_dir, run_options, recognizer, gru, progress)


def failure_message(error: Exception) -> str:
    """The one line a batch reports for a video that failed with ``error``."""
    if isinstance(error, (VideoError, ValueError, OSError)):
        return str(error)
    return f"unexpected error: {type(error).__name__}: {error}"


def annotate_batch(
    inputs: Sequence[str | os.PathLike],
    out_root: str | os.PathLike,
    options: VideoOptions | None = None,
    recognizer: EmotionRecognizer | None = None,
    gru: GruModel | None = None,
    show_progress: bool = False,
    progress: Callable[[float], None] | None = None,
) -> BatchReport:
    """Annotate every video named by ``inputs`` into ``out_root/<stem>/`` (see the module
    docstring), one after another in this process. ``show_progress`` draws tqdm bars (overall
    and per video) on stderr; ``progress`` receives the overall fraction done."""
    options = options or VideoOptions()
    options.validate()
    jobs, report = plan_batch(inputs, out_root, options)
    total = len(jobs) + len(report.skipped)
    overall = tqdm(total=total, initial=len(report.skipped), unit="video", desc="videos",
                   disable=not show_progress, position=0)  # fmt: skip
    for number, (video, out_dir) in enumerate(jobs, start=len(report.skipped)):
        overall.set_postfix_str(video.name)
        if recognizer is None:
            recognizer, gru = load_models(options)
        bar = tqdm(total=100, desc=video.name[:30], leave=False, disable=not show_progress, position=1,
                   bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}")  # fmt: skip

        def on_progress(fraction: float, bar: tqdm = bar, number: int = number) -> None:
            bar.update(round(100 * fraction) - bar.n)
            if progress is not None:
                progress((number + fraction) / total)

        try:
            report.successes[video] = annotate_into(video, out_dir, options, recognizer, gru, on_progress)
        except Exception as error:  # one failed file must not stop the batch
            report.failures[video] = failure_message(error)
        finally:
            bar.close()
        overall.update(1)
        if progress is not None:
            progress((number + 1) / total)
    overall.close()
    if progress is not None and not jobs:
        progress(1.0)
    return report
