"""The Gradio interface: three tabs (Image, Video, Live) wired to :mod:`fer_video.app.handlers`.

Build with :func:`build_app` (models load once here and are shared by every visitor), serve with
:func:`launch_app` (loopback only by default, upload cap, bounded queue). Errors in user input
reach the page as one-line messages (``gr.Error`` / ``gr.Warning``), never as tracebacks.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import gradio as gr
import numpy as np
import torch

from fer_video.app import handlers
from fer_video.app.errors import uploaded_image, uploads_named, user_errors
from fer_video.app.examples import write_example_image, write_example_video
from fer_video.app.settings import AppSettings
from fer_video.app.workspace import AppWorkspace
from fer_video.backends.gru import load_gru_for_backend
from fer_video.checkpoint import CheckpointError
from fer_video.imaging import CLASS_COLORS
from fer_video.pretrained import DEFAULT_MODEL
from fer_video.recognizer import EmotionRecognizer
from fer_video.temporal import SMOOTHING_KINDS, GruModel

logger = logging.getLogger(__name__)

INTRO = """# fer-video: facial emotion recognition
Upload a photo or a video, or turn on your webcam: every face found is classified into seven
emotions by a CNN trained on FER2013; in videos and the live view each face is tracked and its
emotions are smoothed over time. Uploads and results stay on this server and are deleted after
about an hour."""


def load_default_gru(
    device: str | torch.device = "auto", model: str = DEFAULT_MODEL, backend: str = "torch"
) -> GruModel | None:
    """The shipped temporal GRU of ``model``, run like the CNN (``backend``: the CNN's resolved
    backend, see :func:`~fer_video.backends.gru.load_gru_for_backend`), or None (with a logged
    warning) when it is missing or unreadable, so the app still serves images, and videos with
    ``ema`` / ``none`` smoothing."""
    try:
        return load_gru_for_backend(backend, device, model=model)
    except CheckpointError as error:
        logger.warning("smoothing 'gru' is not offered: %s", error)
        return None


def build_app(
    recognizer: EmotionRecognizer | None = None,
    gru: GruModel | None = None,
    settings: AppSettings | None = None,
    workspace: AppWorkspace | None = None,
    model: str = DEFAULT_MODEL,
) -> gr.Blocks:
    """The app, its models loaded once and used for images, videos and the live view:
    ``recognizer`` (default: the CNN of the shipped ``model`` + MTCNN) and ``gru`` (default: the
    recognizer's model's GRU when present, run like its CNN; without one, smoothing offers
    ``ema`` and ``none``)."""
    settings = settings or AppSettings()
    recognizer = recognizer or EmotionRecognizer(model=model)
    if gru is None:
        gru = load_default_gru(recognizer.device, recognizer.model, recognizer.classifier.backend_name)
    workspace = workspace or AppWorkspace.create()
    smoothing = [kind for kind in SMOOTHING_KINDS if kind != "gru" or gru is not None]
    with gr.Blocks(title="fer-video", analytics_enabled=False, delete_cache=(1800, 3600)) as demo:
        gr.Markdown(INTRO)
        with gr.Tabs():
            with gr.Tab("Image", id="image"):
                _image_tab(recognizer, workspace)
            with gr.Tab("Video", id="video"):
                _video_tab(recognizer, gru, smoothing, settings, workspace)
            with gr.Tab("Live", id="live"):
                _live_tab(recognizer, gru, smoothing, settings)
    demo.queue(default_concurrency_limit=settings.concurrency, max_size=settings.queue_size)
    return demo


def launch_app(
    demo: gr.Blocks,
    settings: AppSettings,
    host: str = "127.0.0.1",
    port: int = 7860,
    prevent_thread_lock: bool = False,
    quiet: bool = False,
) -> None:
    """Serve ``demo`` on ``host:port`` with the upload cap of ``settings`` (never a public share link)."""
    demo.launch(
        server_name=host,
        server_port=port,
        share=False,
        max_file_size=settings.max_file_size,
        prevent_thread_lock=prevent_thread_lock,
        quiet=quiet,
        ssr_mode=False,
        mcp_server=False,
        show_error=False,
        footer_links=["api"],
    )


def _image_tab(recognizer: EmotionRecognizer, workspace: AppWorkspace) -> None:
    with gr.Row():
        with gr.Column():
            image_in = gr.Image(
                label="Photo (upload, webcam snapshot or paste)",
                sources=["upload", "webcam", "clipboard"],
                elem_id="image-input",
            )
            gr.Examples([[str(write_example_image(workspace.examples))]], inputs=image_in, cache_examples=False)
        with gr.Column():
            annotated = gr.Image(label="Faces found", interactive=False, format="jpeg", elem_id="image-output")
            main_label = gr.Label(label="Largest face", num_top_classes=7, elem_id="image-label")
    with gr.Row():
        chart = gr.Plot(label="Probabilities per face", elem_id="image-chart")
        table = gr.Dataframe(label="Faces", interactive=False, elem_id="image-table")

    @user_errors
    def run_image(payload: Any) -> tuple:
        frame = uploaded_image(payload)
        if frame is None:
            return None, None, None, None
        result = handlers.analyse_image(frame, recognizer)
        if not result.faces:
            gr.Warning("No face found in this image.")
        return result.annotated, result.main_face or None, result.chart, result.table

    image_in.change(
        run_image, image_in, [annotated, main_label, chart, table], preprocess=False, api_name="analyse_image"
    )


def _video_tab(
    recognizer: EmotionRecognizer,
    gru: GruModel | None,
    smoothing_choices: list[str],
    settings: AppSettings,
    workspace: AppWorkspace,
) -> None:
    with gr.Row():
        with gr.Column():
            video_in = gr.Video(label="Video", sources=["upload"], elem_id="video-input")
            fps = gr.Slider(1, 30, value=10, step=1, label="Frames analysed per second", elem_id="video-fps")
            smoothing = gr.Radio(
                smoothing_choices, value=smoothing_choices[0], label="Smoothing over time", elem_id="video-smoothing"
            )
            run = gr.Button("Analyse video", variant="primary", elem_id="video-run")
            gr.Markdown(
                f"Up to {settings.max_video_seconds:g} s of video and {settings.max_upload_mb:g} MB per upload."
            )
            gr.Examples(
                [[str(write_example_video(workspace.examples)), 10, smoothing_choices[0]]],
                inputs=[video_in, fps, smoothing],
                cache_examples=False,
            )
        with gr.Column():
            video_out = gr.Video(label="Annotated video", interactive=False, elem_id="video-output")
            timeline = gr.Image(label="Emotion timeline", interactive=False, elem_id="video-timeline")
    summary = gr.Dataframe(label="Per-track summary", interactive=False, elem_id="video-summary")
    with gr.Row():
        csv_file = gr.File(label="Timeline CSV", interactive=False, elem_id="video-csv")
        mp4_file = gr.File(label="Annotated video (MP4)", interactive=False, elem_id="video-mp4")

    @user_errors
    def run_video(
        path: str | None,
        fps_value: float,
        smoothing_kind: str,
        progress=gr.Progress(),  # noqa: B008 (Gradio finds it here and injects the page's progress bar)
    ) -> tuple:
        if not path:
            raise gr.Error("Upload a video first.", print_exception=False)
        progress(0.0, desc="Analysing video")
        with uploads_named(path):
            result = handlers.analyse_video(
                path,
                workspace.new_run(),
                recognizer,
                gru,
                fps=float(fps_value),
                smoothing=smoothing_kind,
                max_seconds=settings.max_video_seconds,
                progress=lambda fraction: progress(fraction, desc="Analysing video"),
            )
        report = result.report
        if result.truncated:
            gr.Warning(
                f"Only the first {settings.max_video_seconds:g} s of this {result.source_duration_s:.0f} s video "
                "were analysed (this server's limit)."
            )
        if not report.tracks:
            gr.Warning("No face found in this video.")
        video = str(report.annotated_video) if report.annotated_video else None
        return video, str(report.timeline_png), result.summary, str(report.timeline_csv), video

    run.click(
        run_video,
        [video_in, fps, smoothing],
        [video_out, timeline, summary, csv_file, mp4_file],
        api_name="analyse_video",
    )


def _live_tab(
    recognizer: EmotionRecognizer, gru: GruModel | None, smoothing_choices: list[str], settings: AppSettings
) -> None:
    with gr.Row():
        with gr.Column():
            camera = gr.Image(label="Webcam", sources=["webcam"], streaming=True, elem_id="live-input")
            smoothing = gr.Radio(
                smoothing_choices, value=smoothing_choices[0], label="Smoothing over time", elem_id="live-smoothing"
            )
        with gr.Column():
            annotated = gr.Image(label="Faces now", interactive=False, format="jpeg", elem_id="live-output")
            main_label = gr.Label(label="Largest face", num_top_classes=3, elem_id="live-label")
    with gr.Row():
        timeline = gr.LinePlot(
            x="time_s",
            y="probability",
            color="emotion",
            color_map={name: "#{:02x}{:02x}{:02x}".format(*rgb) for name, rgb in CLASS_COLORS.items()},
            y_lim=[0, 1],
            label=f"Largest face, last {settings.live_history_s:g} s",
            elem_id="live-timeline",
        )
        table = gr.Dataframe(label="Faces now", interactive=False, elem_id="live-table")
    session = gr.State(None, time_to_live=settings.live_time_limit_s)

    @user_errors
    def run_live(frame: np.ndarray | None, smoothing_kind: str, live: handlers.LiveSession | None) -> tuple:
        if frame is None:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), live
        if live is None or live.smoothing != smoothing_kind:
            live = handlers.LiveSession.create(recognizer, smoothing_kind, gru, settings.live_history_s)
        update = live.update(frame, time.monotonic())
        # An empty table would leave Gradio's line plot blank for good once data comes: keep it unset.
        timeline = update.timeline if len(update.timeline) else gr.skip()
        return update.annotated, update.main_face or None, timeline, update.table, live

    camera.stream(
        run_live,
        [camera, smoothing, session],
        [annotated, main_label, timeline, table, session],
        stream_every=settings.stream_every,
        time_limit=settings.live_time_limit_s,
        show_progress="hidden",
        api_name="live_frame",
    )
