"""``annotate_batch``: many videos, one output folder each (``OUT/<video stem>/``), resumable.

Models are loaded once for the whole batch (and not at all when every video is already done).
A folder whose ``summary.json`` says ``complete`` is skipped unless ``overwrite``; a broken
video is recorded with its message and the batch goes on.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from tqdm import tqdm

from fer_video.recognizer import EmotionRecognizer
from fer_video.temporal import TemporalGRU
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


def annotate_batch(
    inputs: Sequence[str | os.PathLike],
    out_root: str | os.PathLike,
    options: VideoOptions | None = None,
    recognizer: EmotionRecognizer | None = None,
    gru: TemporalGRU | None = None,
    show_progress: bool = False,
    progress: Callable[[float], None] | None = None,
) -> BatchReport:
    """Annotate every video named by ``inputs`` into ``out_root/<stem>/`` (see the module
    docstring). ``show_progress`` draws tqdm bars (overall and per video) on stderr;
    ``progress`` receives the overall fraction done."""
    options = options or VideoOptions()
    options.validate()
    videos, problems = find_videos(inputs)
    report = BatchReport(failures=dict(problems))
    out_root = Path(out_root)
    overall = tqdm(total=len(videos), unit="video", desc="videos", disable=not show_progress, position=0)
    for number, (video, out_dir) in enumerate(zip(videos, output_dirs(videos, out_root))):
        overall.set_postfix_str(video.name)
        if is_complete(out_dir) and not options.overwrite:
            report.skipped.append(video)
        else:
            if recognizer is None:
                recognizer, gru = load_models(options)
            interrupted = out_dir.is_dir() and holds_only_outputs(out_dir)
            run_options = replace(options, overwrite=options.overwrite or interrupted)
            bar = tqdm(total=100, desc=video.name[:30], leave=False, disable=not show_progress, position=1,
                       bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}")  # fmt: skip

            def on_progress(fraction: float, bar: tqdm = bar, number: int = number) -> None:
                bar.update(round(100 * fraction) - bar.n)
                if progress is not None:
                    progress((number + fraction) / len(videos))

            try:
                report.successes[video] = annotate_video(video, out_dir, run_options, recognizer, gru, on_progress)
            except (VideoError, ValueError, OSError) as error:
                report.failures[video] = str(error)
            except Exception as error:  # an unexpected failure on one file must not stop the batch
                report.failures[video] = f"unexpected error: {type(error).__name__}: {error}"
            finally:
                bar.close()
        overall.update(1)
        if progress is not None:
            progress((number + 1) / len(videos))
    overall.close()
    return report
