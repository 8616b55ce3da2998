"""Command-line options that several subcommands share."""

from __future__ import annotations

import argparse


def add_data_option(parser: argparse.ArgumentParser) -> None:
    """``--data``: where FER2013 is (resolved by :func:`fer_video.data.require_fer2013_path`)."""
    parser.add_argument(
        "--data", help="FER2013 folder, zip or csv (default: $FER2013_PATH or ../shared/data/fer2013.zip)"
    )
