"""``fer-video app``: serve the web app (Image, Video and Live tabs) on this machine."""

from __future__ import annotations

import argparse
import signal
import sys

from fer_video.cli.image_cmd import add_backend_option
from fer_video.cli.options import add_model_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "app",
        help="start the web app (images, videos, live webcam)",
        description="Serve the Gradio app. It listens on 127.0.0.1 only unless --host says otherwise; "
        "no public share link is ever created.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--max-upload-mb", type=float, default=50.0, help="largest upload accepted, MB (default 50)")
    parser.add_argument(
        "--max-video-seconds",
        type=float,
        default=120.0,
        help="analyse at most the first N seconds of each video (default 120)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=1, help="analyses of each kind run at once; others queue (default 1)"
    )
    parser.add_argument("--queue-size", type=int, default=20, help="most requests waiting in the queue (default 20)")
    add_model_option(parser)
    parser.add_argument("--weights", help="emotion CNN weights (default: the CNN of --model)")
    parser.add_argument("--gru-weights", help="temporal GRU weights (default: the GRU of --model)")
    parser.add_argument("--detector", default="mtcnn", choices=("mtcnn", "haar"), help="face detector (default mtcnn)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    add_backend_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fer_video.cli import UserError

    try:
        from fer_video.app import AppSettings, AppWorkspace, build_app, launch_app
    except ImportError as error:
        raise UserError(f"the app needs Gradio ({error}); install it with: pip install 'fer-video[app]'") from None
    from fer_video.backends.gru import load_gru_for_backend
    from fer_video.recognizer import EmotionRecognizer

    if not 0 < args.port < 65536:
        raise ValueError(f"--port must be between 1 and 65535, got {args.port}")
    settings = AppSettings(
        max_upload_mb=args.max_upload_mb,
        max_video_seconds=args.max_video_seconds,
        concurrency=args.concurrency,
        queue_size=args.queue_size,
    )
    recognizer = EmotionRecognizer(
        weights=args.weights, model=args.model, detector=args.detector, device=args.device, backend=args.backend
    )
    gru = None  # build_app loads the GRU of --model, or does without it
    if args.gru_weights:
        gru = load_gru_for_backend(
            recognizer.classifier.backend_name, recognizer.device, args.gru_weights, args.weights, args.model
        )
    workspace = AppWorkspace.create()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # so `finally` cleans up under a service manager too
    try:
        demo = build_app(recognizer, gru, settings, workspace)
        try:
            launch_app(demo, settings, host=args.host, port=args.port, prevent_thread_lock=True, quiet=True)
        except OSError as error:
            reason = str(error).split(". ")[0]
            raise UserError(f"cannot listen on {args.host}:{args.port} ({reason}); choose another --port") from None
        print(f"fer-video app: serving on http://{args.host}:{args.port}/ (Ctrl+C to stop)", flush=True)
        demo.block_thread()
    finally:
        workspace.remove()
    return 0


def _exit_on_sigterm(signum: int, frame: object) -> None:
    sys.exit(0)
