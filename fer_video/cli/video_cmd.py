"""``fer-video video``: annotate one video: annotated.mp4, timeline.csv, summary.json/.csv, timeline.png."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from fer_video.cli.image_cmd import add_backend_option
from fer_video.cli.options import DEFAULT_DETECT_EVERY, DEFAULT_VIDEO_SIZE, SMOOTHING_KINDS, add_model_option
from fer_video.faces import DETECTORS

if TYPE_CHECKING:
    from fer_video.video import VideoOptions


def add_video_options(parser: argparse.ArgumentParser) -> None:
    """The analysis options shared by ``fer-video video`` and ``fer-video batch``."""
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--fps", type=float, default=10.0, help="analysed frames per second; 0 = every frame (default: 10)"
    )
    parser.add_argument(
        "--smoothing", choices=SMOOTHING_KINDS, default=SMOOTHING_KINDS[0],
        help="temporal smoothing per face: hmm (default) also looks 1 s ahead, which a file allows; hmm-online, "
        "gru and ema use past frames only; none shows the CNN's per-frame answer (results/real_video/)",
    )
    parser.add_argument(
        "--stabilize", action="store_true",
        help="smooth each face's box and landmarks over time before aligning it (off by default: see "
        "results/real_video/)",
    )
    parser.add_argument(
        "--no-hysteresis", dest="hysteresis", action="store_false",
        help="show the top emotion of every frame (default: the shown label changes only when another emotion "
        "leads clearly for long enough)",
    )
    parser.add_argument("--no-video", action="store_true", help="skip annotated.mp4 (faster)")
    parser.add_argument(
        "--video-size", type=int, default=DEFAULT_VIDEO_SIZE, metavar="PIXELS",
        help=f"scale annotated.mp4 down so its shorter side is at most PIXELS (default: {DEFAULT_VIDEO_SIZE}, "
        "i.e. 1080p; 0 = the input's own size, slower for 4K)",
    )
    parser.add_argument("--detect-every", type=int, default=DEFAULT_DETECT_EVERY, metavar="K",
                        help="full face detection on every K-th analysed frame; in between, tracked faces are "
                        f"re-checked where expected (default: {DEFAULT_DETECT_EVERY}; 1 = detect on every frame)")  # fmt: skip
    parser.add_argument("--detector", choices=DETECTORS, default="mtcnn", help="face detector (default: mtcnn)")
    add_model_option(parser)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    add_backend_option(parser)
    parser.add_argument("--max-duration", type=float, metavar="SECONDS", help="analyse only the start of each video")
    parser.add_argument("--overwrite", action="store_true", help="replace existing results")


def options_from_args(args: argparse.Namespace) -> VideoOptions:
    from fer_video.video import VideoOptions

    options = VideoOptions(
        fps=args.fps,
        smoothing=args.smoothing,
        write_video=not args.no_video,
        video_size=args.video_size,
        detect_every=args.detect_every,
        detector=args.detector,
        device=args.device,
        backend=args.backend,
        model=args.model,
        overwrite=args.overwrite,
        max_duration_s=args.max_duration,
        hysteresis=args.hysteresis,
        stabilize=args.stabilize,
    )
    options.validate()
    return options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "video",
        help="recognise facial emotions in a video, face by face over time",
        description="Track every face in a video, classify its emotion on the analysed frames and smooth it "
        "over time. Writes annotated.mp4, timeline.csv, summary.json, summary.csv and timeline.png to --out.",
    )
    parser.add_argument("input", metavar="IN", help="video file")
    add_video_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from fer_video.video import annotate_video

    options = options_from_args(args)
    bar_format = "{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}"
    with tqdm(total=100, desc="analysing", bar_format=bar_format) as bar:
        report = annotate_video(args.input, args.out, options, progress=lambda f: bar.update(round(100 * f) - bar.n))
    faces = f"{report.tracks} face track{'s' if report.tracks != 1 else ''}" if report.tracks else "no faces found"
    print(
        f"{args.input}: {faces}, {report.frames_analysed} frames analysed in {report.processing_s:.1f} s "
        f"({report.realtime_factor:.2f}x real time) -> {report.out_dir}"
    )
    return 0
