"""The Gradio web app: ``build_app()`` makes it, ``launch_app()`` serves it (``fer-video app``);
a :class:`ModelLoader` loads its models once, while the page is already served."""

from fer_video.app.models import AppModels, ModelLoader, load_app_models
from fer_video.app.settings import AppSettings
from fer_video.app.ui import build_app, launch_app
from fer_video.app.workspace import AppWorkspace

__all__ = ["AppModels", "AppSettings", "AppWorkspace", "ModelLoader", "build_app", "launch_app", "load_app_models"]
