"""``fer-video batch``: annotate many videos, one output folder each; resumable; locally or on Ray."""

from __future__ import annotations

import argparse
import sys

from fer_video.cli import UserError
from fer_video.cli.video_cmd import add_video_options, options_from_args

#: The Ray engine's options (None when not given: annotate_batch_ray's defaults apply).
RAY_OPTIONS = ("address", "gpus_per_task", "cpus_per_task", "max_retries", "workers")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "batch",
        help="annotate many videos (folders, globs), one output folder per video",
        description="Annotate every video into OUT/<video stem>/ (as `fer-video video` does). Finished videos "
        "are skipped when rerun; a broken file is reported and the batch goes on; the exit status is 1 if "
        "any video failed. `--engine ray` spreads the videos over a Ray instance or cluster.",
    )
    parser.add_argument("inputs", nargs="+", metavar="IN", help="video files, folders or glob patterns")
    add_video_options(parser)
    parser.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: one video after another; ray: one task per video on Ray (default: local)",
    )
    ray = parser.add_argument_group("Ray engine (--engine ray)")
    ray.add_argument("--address", help="join a running cluster: auto | HOST:PORT (default: start a local Ray)")
    ray.add_argument("--gpus-per-task", type=float, metavar="F", help="GPUs per worker, e.g. 1 or 0.5 (default: 0)")
    ray.add_argument("--cpus-per-task", type=float, metavar="N", help="CPUs per worker (default: 1)")
    ray.add_argument(
        "--max-retries",
        type=int,
        metavar="N",
        help="retries of a video whose worker died (default: 2); unreadable videos are not retried",
    )
    ray.add_argument("--workers", type=int, metavar="N", help="workers at once (default: as many as the cluster holds)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    options = options_from_args(args)
    ray_options = {name: getattr(args, name) for name in RAY_OPTIONS if getattr(args, name) is not None}
    if args.engine == "ray":
        from fer_video.video.ray_engine import annotate_batch_ray, require_ray

        try:
            require_ray()
        except ImportError as error:
            raise UserError(str(error)) from None
        report = annotate_batch_ray(args.inputs, args.out, options, **ray_options, show_progress=True)
    else:
        if ray_options:
            given = ", ".join(f"--{name.replace('_', '-')}" for name in ray_options)
            raise UserError(f"{given} only apply with --engine ray")
        from fer_video.video import annotate_batch

        report = annotate_batch(args.inputs, args.out, options, show_progress=True)
    for video, result in report.successes.items():
        tracks = f"{result.tracks} face track{'s' if result.tracks != 1 else ''}"
        print(f"done     {video} -> {result.out_dir} ({tracks}, {result.realtime_factor:.2f}x real time)")
    for video in report.skipped:
        print(f"skipped  {video} (already done)")
    for video, message in report.failures.items():
        print(f"FAILED   {video}: {message}", file=sys.stderr)
    print(f"{len(report.successes)} done, {len(report.skipped)} skipped, {len(report.failures)} failed")
    return 0 if report.ok else 1
