"""``fer-video live``: analyse a camera, a stream URL or a video file as it plays, until stopped."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING

from fer_video.cli.image_cmd import add_backend_option
from fer_video.cli.options import DEFAULT_DETECT_EVERY, ONLINE_SMOOTHING_KINDS, add_model_option
from fer_video.faces import DETECTORS
from fer_video.video.stream import DEFAULT_TIMEOUT_S

if TYPE_CHECKING:
    from fer_video.video.live_runner import LiveStatus

#: Seconds between two status lines on stderr.
STATUS_EVERY_S = 5.0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "live",
        help="analyse a camera, a stream URL or a video file in real time, until stopped",
        description="Track and classify every face of a live source as frames arrive, dropping frames rather "
        "than falling behind. Appends each analysed frame's faces to OUT/timeline.csv at once (the columns of "
        "`fer-video video`); at the end (the source ends, --duration, --max-frames, Ctrl+C or SIGTERM) writes "
        "OUT/summary.json and summary.csv, and with --annotate finishes OUT/annotated.mp4 (the analysed frames).",
    )
    parser.add_argument(
        "source",
        metavar="SOURCE",
        help="camera index (0 = /dev/video0), stream URL (http://, rtsp://, udp://, ... anything FFmpeg reads) "
        "or video file (played in real time)",
    )
    parser.add_argument("--out", required=True, help="output folder (must be new or empty unless --overwrite)")
    parser.add_argument(
        "--fps", type=float, default=10.0, help="analyse at most this many frames per second; 0 = as many as the "
        "analysis keeps up with (default: 10)",
    )  # fmt: skip
    parser.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this many seconds of the source")
    parser.add_argument("--max-frames", type=int, metavar="N", help="stop after N analysed frames")
    parser.add_argument("--annotate", action="store_true", help="also write annotated.mp4 (the analysed frames)")
    parser.add_argument(
        "--realtime", action=argparse.BooleanOptionalAction, default=None,
        help="pace a file by its timestamps, as if live (the default for files); --no-realtime analyses a file's "
        "frames (at --fps) as fast as possible, none dropped",
    )  # fmt: skip
    parser.add_argument(
        "--smoothing", choices=ONLINE_SMOOTHING_KINDS, default=ONLINE_SMOOTHING_KINDS[0],
        help="temporal smoothing per face, from the frames seen so far only "
        f"(default: {ONLINE_SMOOTHING_KINDS[0]})",
    )  # fmt: skip
    parser.add_argument("--detect-every", type=int, default=DEFAULT_DETECT_EVERY, metavar="K",
                        help="full face detection on every K-th analysed frame, tracked faces re-checked in between "
                        f"(default: {DEFAULT_DETECT_EVERY})")  # fmt: skip
    parser.add_argument("--detector", choices=DETECTORS, default="mtcnn", help="face detector (default: mtcnn)")
    add_model_option(parser)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    add_backend_option(parser)
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
        help=f"give up on a stream that does not open or send data for this long (default: {DEFAULT_TIMEOUT_S:g})",
    )  # fmt: skip
    parser.add_argument("--overwrite", action="store_true", help="replace the results of an earlier run in --out")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fer_video.video.live_runner import LiveOptions, run_live

    options = LiveOptions(
        fps=args.fps,
        smoothing=args.smoothing,
        detect_every=args.detect_every,
        detector=args.detector,
        device=args.device,
        backend=args.backend,
        model=args.model,
        annotate=args.annotate,
        duration_s=args.duration,
        max_frames=args.max_frames,
        realtime=args.realtime,
        timeout_s=args.timeout,
        overwrite=args.overwrite,
    )
    options.validate()
    stop = threading.Event()
    previous = {sig: signal.signal(sig, _stopper(stop)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        report = run_live(args.source, args.out, options, stop=stop, on_frame=_StatusLine(args.source, args.out))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    faces = f"{report.tracks} face track{'s' if report.tracks != 1 else ''}" if report.tracks else "no faces found"
    print(
        f"{args.source}: {report.stopped}; {faces}, {report.frames_analysed} frames analysed, "
        f"{report.frames_dropped} dropped (behind), {report.frames_skipped} skipped (--fps), "
        f"{report.duration_s:.1f} s of source in {report.wall_s:.1f} s -> {report.out_dir}"
    )
    return 0


def _stopper(stop: threading.Event):
    """A signal handler: the first signal asks the run to stop after the current frame; a second
    one interrupts at once (the outputs are still closed)."""

    def handle(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print(f"fer-video live: {signal.Signals(signum).name}: stopping", file=sys.stderr, flush=True)

    return handle


class _StatusLine:
    """Prints on stderr that the analysis runs (at the first frame), then how it goes every
    :data:`STATUS_EVERY_S` seconds."""

    def __init__(self, source: str, out: str) -> None:
        self.source, self.out = source, out
        self.next_at: float | None = None

    def __call__(self, status: LiveStatus) -> None:
        if self.next_at is None:
            width, height = (round(side / status.frame.scale) for side in status.frame.image.shape[1::-1])
            print(
                f"fer-video live: analysing {self.source} ({width}x{height}) into {self.out}; Ctrl+C to stop",
                file=sys.stderr,
                flush=True,
            )
            self.next_at = time.monotonic() + STATUS_EVERY_S
        if time.monotonic() < self.next_at:
            return
        self.next_at = time.monotonic() + STATUS_EVERY_S
        faces = ", ".join(f"#{state.track_id} {state.label}" for state in status.states) or "no face"
        print(
            f"  {status.frame.time_s:8.1f} s: {status.frames_analysed} analysed, {status.stats.dropped} dropped; "
            f"{faces}",
            file=sys.stderr,
            flush=True,
        )
