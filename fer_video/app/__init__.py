"""The Gradio web app: ``build_app()`` makes it, ``launch_app()`` serves it (``fer-video app``)."""

from fer_video.app.settings import AppSettings
from fer_video.app.ui import build_app, launch_app
from fer_video.app.workspace import AppWorkspace

__all__ = ["AppSettings", "AppWorkspace", "build_app", "launch_app"]
