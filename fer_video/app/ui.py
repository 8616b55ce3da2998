"""The Gradio interface: three tabs (Image, Video, Live) wired to :mod:`fer_video.app.handlers`.

Build with :func:`build_app`, serve with :func:`launch_app` (loopback only by default, upload cap,
bounded queue). The models load once per process, through a :class:`~fer_video.app.models.ModelLoader`
shared by every visitor. Building and serving the page neither waits for them nor imports torch:
the page answers at once, the smoothing choices fill in when the models are ready, and a request
sent before then waits for them. So :mod:`fer_video.app.handlers` (torch, the models' code) is
imported inside the callbacks. Each tab's analyses take turns at a :class:`~fer_video.app.jobs.JobGate`
(``concurrency`` at once, ``queue_size`` waiting, a message beyond). Errors in user input reach
the page as one-line messages (``gr.Error`` / ``gr.Warning``), never as tracebacks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from fer_video.app.errors import uploaded_file, uploaded_image, uploads_named, user_errors
from fer_video.app.examples import example_folder, write_example_image, write_example_video
from fer_video.app.jobs import JobGate
from fer_video.app.models import AppModels, ModelLoader, load_app_models
from fer_video.app.settings import AppSettings, describe_duration
from fer_video.app.tables import FACE_COLUMNS, LIVE_COLUMNS, empty_table
from fer_video.app.workspace import AppWorkspace
from fer_video.imaging import CLASS_COLORS
from fer_video.pretrained import DEFAULT_MODEL

INTRO = """# fer-video: facial emotion recognition
Upload a photo or a video, or turn on your webcam: every face found is classified into seven
emotions by a CNN trained on FER2013; in videos and the live view each face is tracked and its
emotions are smoothed over time. Uploads and results stay on this server and are deleted after
about an hour."""


def build_app(
    models: ModelLoader | None = None,
    settings: AppSettings | None = None,
    workspace: AppWorkspace | None = None,
    model: str = DEFAULT_MODEL,
) -> gr.Blocks:
    """The app. ``models`` gives the recognizer and GRU used for images, videos and the live view
    (default: the shipped ``model``'s CNN with MTCNN and its GRU, loaded at the first request);
    each tab offers the smoothing kinds they can run, starting with the library's default."""
    settings = settings or AppSettings()
    models = models or ModelLoader(lambda: load_app_models(model))
    workspace = workspace or AppWorkspace.create()
    examples = example_folder(workspace.examples)
    with gr.Blocks(title="fer-video", analytics_enabled=False, delete_cache=(1800, 3600)) as demo:
        gr.Markdown(INTRO)
        with gr.Tabs():
            with gr.Tab("Image", id="image"):
                _image_tab(models, examples, _gate(settings))
            with gr.Tab("Video", id="video"):
                video_smoothing = _video_tab(models, settings, workspace, examples, _gate(settings))
            with gr.Tab("Live", id="live"):
                live_smoothing = _live_tab(models, settings, _gate(settings))

        @user_errors
        def offer_smoothing() -> tuple:
            loaded = models.get()  # the first visits after start-up wait here for the models
            video, live = loaded.video, loaded.live
            return gr.Radio(list(video.kinds), value=video.default), gr.Radio(list(live.kinds), value=live.default)

        demo.load(
            offer_smoothing,
            None,
            [video_smoothing, live_smoothing],
            queue=False,
            show_progress="minimal",
            api_visibility="private",
        )
    # Turns are taken at each tab's JobGate (which says when its line is full); Gradio's queue only
    # passes requests on, its bound a backstop above what the three gates admit.
    demo.queue(default_concurrency_limit=None, max_size=3 * settings.admitted)
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
        max_threads=40 + 3 * settings.admitted,  # a request waits for its turn in a thread (see JobGate)
        footer_links=["api"],
    )


def _gate(settings: AppSettings) -> JobGate:
    """One tab's turns: ``concurrency`` analyses at once, ``queue_size`` more waiting."""
    return JobGate(settings.concurrency, settings.queue_size)


def _waiting(progress: gr.Progress) -> Callable[[int], None]:
    """Tells the page how many analyses are ahead of this one."""
    return lambda ahead: progress(0.0, desc=f"Waiting for a free slot: {ahead} ahead")


def _models_for(models: ModelLoader, progress: gr.Progress) -> AppModels:
    """The loaded models, telling the page while the first request after start-up waits for them."""
    if not models.ready:
        progress(0.0, desc="Loading the models (once, after the server starts)")
    return models.get()


def _image_tab(models: ModelLoader, examples: Path, gate: JobGate) -> None:
    with gr.Row():
        with gr.Column():
            image_in = gr.Image(
                label="Photo (upload, webcam snapshot or paste)",
                sources=["upload", "webcam", "clipboard"],
                elem_id="image-input",
            )
            gr.Examples([[str(write_example_image(examples))]], inputs=image_in, cache_examples=False)
        with gr.Column():
            annotated = gr.Image(label="Faces found", interactive=False, format="jpeg", elem_id="image-output")
            main_label = gr.Label(label="Largest face", num_top_classes=7, elem_id="image-label")
    with gr.Row():
        chart = gr.Plot(label="Probabilities per face", elem_id="image-chart")
        table = gr.Dataframe(
            empty_table(FACE_COLUMNS), headers=FACE_COLUMNS, label="Faces", interactive=False, elem_id="image-table"
        )

    @user_errors
    def run_image(payload: Any, progress=gr.Progress()) -> tuple:  # noqa: B008 (Gradio injects the page's progress)
        frame = uploaded_image(payload)
        if frame is None:
            return None, None, None, empty_table(FACE_COLUMNS)
        loaded = _models_for(models, progress)
        from fer_video.app import handlers

        with gate.turn(_waiting(progress)):
            result = handlers.analyse_image(frame, loaded.recognizer)
        if not result.faces:
            gr.Warning("No face found in this image.")
        return result.annotated, result.main_face or None, result.chart, result.table

    image_in.change(
        run_image, image_in, [annotated, main_label, chart, table], preprocess=False, api_name="analyse_image"
    )


def _video_tab(
    models: ModelLoader, settings: AppSettings, workspace: AppWorkspace, examples: Path, gate: JobGate
) -> gr.Radio:
    """The Video tab; returns its smoothing choice (filled in when the models are loaded)."""
    with gr.Row():
        with gr.Column():
            video_in = gr.Video(label="Video", sources=["upload"], elem_id="video-input")
            fps = gr.Slider(1, 30, value=10, step=1, label="Frames analysed per second", elem_id="video-fps")
            smoothing = gr.Radio([], label="Smoothing over time", elem_id="video-smoothing")
            run = gr.Button("Analyse video", variant="primary", elem_id="video-run")
            gr.Markdown(_video_limits(settings), elem_id="video-limits")
            gr.Examples(
                [[str(write_example_video(examples)), 10]], inputs=[video_in, fps], cache_examples=False
            )
        with gr.Column():
            video_out = gr.Video(label="Annotated video", interactive=False, elem_id="video-output")
            timeline = gr.Image(label="Emotion timeline", interactive=False, elem_id="video-timeline")
    summary = gr.Dataframe(label="Per-track summary", interactive=False, visible=False, elem_id="video-summary")
    with gr.Row():
        csv_file = gr.File(label="Timeline CSV", interactive=False, elem_id="video-csv")
        mp4_file = gr.File(label="Annotated video (MP4)", interactive=False, elem_id="video-mp4")

    @user_errors
    def run_video(
        payload: Any,
        fps_value: float,
        smoothing_kind: str | None,
        progress=gr.Progress(),  # noqa: B008 (Gradio finds it here and injects the page's progress bar)
    ) -> tuple:
        upload = uploaded_file(payload)
        if upload is None:
            raise gr.Error("Upload a video first.", print_exception=False)
        loaded = _models_for(models, progress)
        kind = loaded.video.pick(smoothing_kind)
        from fer_video.app import handlers

        with gate.turn(_waiting(progress)), uploads_named(*upload):
            progress(0.0, desc="Analysing video")
            result = handlers.analyse_video(
                upload[0],
                workspace.new_run(),
                loaded.recognizer,
                loaded.gru,
                fps=float(fps_value),
                smoothing=kind,
                max_seconds=settings.max_video_seconds,
                progress=lambda fraction: progress(fraction, desc="Analysing video"),
                notice=lambda message: gr.Warning(message, duration=None),
            )
        report = result.report
        if not report.tracks:
            gr.Warning("No face found in this video.")
        video = str(report.annotated_video) if report.annotated_video else None
        return video, str(report.timeline_png), result.summary, str(report.timeline_csv), video

    run.click(  # unprocessed inputs: the smoothing choices are filled in per page, and checked here
        run_video,
        [video_in, fps, smoothing],
        [video_out, timeline, summary, csv_file, mp4_file],
        preprocess=False,
        api_name="analyse_video",
    ).success(  # the summary's columns come with the first result: until then it stays hidden
        lambda: gr.Dataframe(visible=True), None, summary, queue=False, show_progress="hidden", api_visibility="private"
    )
    return smoothing


def _video_limits(settings: AppSettings) -> str:
    """What the Video tab tells visitors about this server's limits."""
    at_once = "one video at a time" if settings.concurrency == 1 else f"{settings.concurrency} videos at a time"
    return (
        f"Videos are analysed up to their first {describe_duration(settings.max_video_seconds)} "
        f"(longer ones are cut there); uploads up to {settings.max_upload_mb:g} MB. This server analyses "
        f"{at_once}; up to {settings.queue_size} more wait their turn, and beyond that it says it is busy."
    )


def _live_tab(models: ModelLoader, settings: AppSettings, gate: JobGate) -> gr.Radio:
    """The Live tab; returns its smoothing choice (filled in when the models are loaded)."""
    with gr.Row():
        with gr.Column():
            camera = gr.Image(label="Webcam", sources=["webcam"], streaming=True, elem_id="live-input")
            smoothing = gr.Radio([], label="Smoothing over time", elem_id="live-smoothing")
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
        table = gr.Dataframe(
            empty_table(LIVE_COLUMNS), headers=LIVE_COLUMNS, label="Faces now", interactive=False, elem_id="live-table"
        )
    session = gr.State(None, time_to_live=settings.live_time_limit_s)

    @user_errors
    def run_live(frame: Any, smoothing_kind: str | None, live: Any) -> tuple:
        if frame is None:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), live
        loaded = models.get()
        from fer_video.app import handlers

        kind = loaded.live.pick(smoothing_kind)
        if live is None or live.smoothing != kind:
            live = handlers.LiveSession.create(loaded.recognizer, kind, loaded.gru, settings.live_history_s)
        with gate.turn():
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
    return smoothing
