"""``fer-video app``: serve the web app (Image, Video and Live tabs) on this machine."""

from __future__ import annotations

import argparse
import functools
import signal
import sys
from pathlib import Path

from fer_video.cli.image_cmd import add_backend_option
from fer_video.cli.options import add_model_option

DESCRIPTION = """Serve the Gradio app. It listens on 127.0.0.1 only unless --host says otherwise; no public share
link is ever created. The page is served at once; the models load once, right after, while it is
served (a request sent before they are ready waits for them).

How long a video takes: on a 2-core AMD EPYC (AVX2, no AVX-512) shared with other work (load
average 3-9), the Video tab analysed 2 minutes of 1280x720 video in 130 s, about 65 s per minute of
video (10 analysed frames per second, standard model, annotated MP4 written; 2026-12-02). So the
default limit of 10 minutes of video means up to about 11 minutes of analysis, and each minute more
of --max-video-seconds about one minute more (results/bench_app_video.md, scripts/bench_app_video.py)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "app",
        help="start the web app (images, videos, live webcam)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument(
        "--max-upload-mb", type=float, default=1000.0, help="largest upload accepted, MB (default 1000)"
    )
    parser.add_argument(
        "--max-video-seconds",
        type=float,
        default=600.0,
        help="analyse at most the first N seconds of each video; longer videos are cut there, with a notice "
        "in the page (default 600, i.e. 10 minutes)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="analyses of each kind (image, video, live frame) run at once; the others wait their turn (default 1)",
    )
    parser.add_argument(
        "--queue-size",
        type=int,
        default=20,
        help="most analyses of each kind waiting their turn; beyond it the page says the server is busy (default 20)",
    )
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
        from fer_video.app import AppSettings, AppWorkspace, ModelLoader, build_app, launch_app, load_app_models
        from fer_video.app.models import ModelLoadError
    except ImportError as error:
        raise UserError(f"the app needs Gradio ({error}); install it with: pip install 'fer-video[app]'") from None

    if not 0 < args.port < 65536:
        raise ValueError(f"--port must be between 1 and 65535, got {args.port}")
    settings = AppSettings(
        max_upload_mb=args.max_upload_mb,
        max_video_seconds=args.max_video_seconds,
        concurrency=args.concurrency,
        queue_size=args.queue_size,
    )
    for option, path in (("--weights", args.weights), ("--gru-weights", args.gru_weights)):
        if path and not Path(path).is_file():
            raise UserError(f"{option}: file not found: {path}")
    models = ModelLoader(
        functools.partial(
            load_app_models,
            model=args.model,
            weights=args.weights,
            gru_weights=args.gru_weights,
            detector=args.detector,
            device=args.device,
            backend=args.backend,
        )
    )
    workspace = AppWorkspace.create()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # so `finally` cleans up under a service manager too
    try:
        demo = build_app(models, settings, workspace)
        try:
            launch_app(demo, settings, host=args.host, port=args.port, prevent_thread_lock=True, quiet=True)
        except OSError as error:
            reason = str(error).split(". ")[0]
            raise UserError(f"cannot listen on {args.host}:{args.port} ({reason}); choose another --port") from None
        print(f"fer-video app: serving on http://{args.host}:{args.port}/ (Ctrl+C to stop)", flush=True)
        try:
            models.get()  # loads them here, unless a first request already does
        except ModelLoadError as error:
            demo.close()
            raise UserError(str(error)) from None
        print(f"fer-video app: models loaded in {models.load_s:.1f} s", flush=True)
        demo.block_thread()
    finally:
        workspace.remove()
    return 0


def _exit_on_sigterm(signum: int, frame: object) -> None:
    sys.exit(0)
