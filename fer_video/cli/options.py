"""Command-line options that several subcommands share.

Building the parser must not import torch (``fer-video --help`` answers at once), so the
names of settings defined in torch-importing modules are spelled out here;
tests/test_startup.py checks that they match their sources.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fer_video.pretrained import DEFAULT_MODEL, SHIPPED_MODELS

#: :data:`fer_video.temporal.SMOOTHING_KINDS` (the first is the default for files).
SMOOTHING_KINDS: tuple[str, ...] = ("hmm", "hmm-online", "gru", "ema", "none")
#: :data:`fer_video.temporal.ONLINE_SMOOTHING_KINDS` (the first is the default for live streams).
ONLINE_SMOOTHING_KINDS: tuple[str, ...] = ("hmm-online", "gru", "ema", "none")
#: :data:`fer_video.video.pipeline.DEFAULT_DETECT_EVERY`.
DEFAULT_DETECT_EVERY = 3
#: :data:`fer_video.video.encode.DEFAULT_VIDEO_SIZE`.
DEFAULT_VIDEO_SIZE = 1080


def add_data_option(parser: argparse.ArgumentParser) -> None:
    """``--data``: where FER2013 is (resolved by :func:`fer_video.data.require_fer2013_path`)."""
    parser.add_argument(
        "--data", help="FER2013 folder, zip or csv (default: $FER2013_PATH or ../shared/data/fer2013.zip)"
    )


def add_model_option(parser: argparse.ArgumentParser, purpose: str = "shipped emotion model") -> None:
    """``--model``: which shipped model runs (see :data:`fer_video.pretrained.SHIPPED_MODELS`)."""
    described = "; ".join(f"{name} = {shipped.summary}" for name, shipped in SHIPPED_MODELS.items())
    parser.add_argument(
        "--model",
        choices=tuple(SHIPPED_MODELS),
        default=DEFAULT_MODEL,
        help=f"{purpose}: {described} (default: {DEFAULT_MODEL})",
    )


def new_checkpoint_path(out: str, source: str, overwrite: bool) -> Path:
    """``--out`` of a command that derives a checkpoint from ``--weights`` (``source``): a ``.pt``
    file other than the source (which is kept), not already there unless ``overwrite``."""
    from fer_video.evaluate.outputs import check_overwrite

    path = Path(out)
    if path.suffix.lower() != ".pt":
        raise ValueError(f"--out must end in .pt, got {path}")
    if path.resolve() == Path(source).resolve():
        raise ValueError("--out must differ from --weights: the original checkpoint is kept")
    check_overwrite([path], overwrite)
    return path


def output_folder(out: str) -> Path:
    """``--out`` of a command that writes several files into a folder: refused when it names a file."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out must be a folder, but {path} is a file")
    return path
