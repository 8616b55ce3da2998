#!/usr/bin/env python3
"""Annotate a folder (or glob) of videos: one output folder per video, resumable.

    python scripts/annotate_videos.py videos/ --out results/videos --fps 10
    python scripts/annotate_videos.py videos/ --out results/videos --engine ray --gpus-per-task 0.5

The same as ``fer-video batch`` (same options), which calls ``fer_video.video.annotate_batch``
(or ``fer_video.video.ray_engine.annotate_batch_ray`` with ``--engine ray``).
"""

from __future__ import annotations

import sys

from fer_video.cli import main

if __name__ == "__main__":
    sys.exit(main(["batch", *sys.argv[1:]]))
