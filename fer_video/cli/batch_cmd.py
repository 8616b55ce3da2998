"""``fer-video batch``: annotate many videos, one output folder each; resumable."""

from __future__ import annotations

import argparse
import sys

from fer_video.cli.video_cmd import add_video_options, options_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "batch",
        help="annotate many videos (folders, globs), one output folder per video",
        description="Annotate every video into OUT/<video stem>/ (as `fer-video video` does). Finished videos "
        "are skipped when rerun; a broken file is reported and the batch goes on; the exit status is 1 if "
        "any video failed.",
    )
    parser.add_argument("inputs", nargs="+", metavar="IN", help="video files, folders or glob patterns")
    add_video_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fer_video.video import annotate_batch

    report = annotate_batch(args.inputs, args.out, options_from_args(args), show_progress=True)
    for video, result in report.successes.items():
        print(
            f"done     {video} -> {result.out_dir} ({result.tracks} face tracks, {result.realtime_factor:.2f}x real time)"
        )
    for video in report.skipped:
        print(f"skipped  {video} (already done)")
    for video, message in report.failures.items():
        print(f"FAILED   {video}: {message}", file=sys.stderr)
    print(f"{len(report.successes)} done, {len(report.skipped)} skipped, {len(report.failures)} failed")
    return 0 if report.ok else 1
