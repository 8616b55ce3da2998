"""Turning failures into what a visitor reads: one line in the page, never a traceback."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from fer_video.app.jobs import ServerBusy
from fer_video.app.models import ModelLoadError
from fer_video.imaging import load_image

logger = logging.getLogger(__name__)


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a UI callback, showing bad input (ValueError and its kin), models that failed to load
    and a full server as a one-line ``gr.Error``, and any other failure as a short notice (its
    traceback goes to the server log only)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (ValueError, FileNotFoundError, PermissionError, ModelLoadError, ServerBusy) as error:
            raise gr.Error(one_line(str(error)), print_exception=False) from None
        except Exception as error:
            logger.exception("%s failed", fn.__name__)
            raise gr.Error(
                f"the analysis failed ({type(error).__name__}); see the server log", print_exception=False
            ) from None

    return wrapper


def one_line(message: str, limit: int = 300) -> str:
    text = " ".join(message.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def uploaded_file(payload: dict[str, Any] | None) -> tuple[str, str | None] | None:
    """The server path and the visitor's name for it of an unprocessed upload (a Gradio file
    payload), or None without one."""
    if payload is None:
        return None
    path = payload.get("path")
    if not path:
        raise ValueError("the upload did not arrive; please try again")
    return path, payload.get("orig_name")


def uploaded_image(payload: dict[str, Any] | None) -> np.ndarray | None:
    """The RGB image of an unprocessed ``gr.Image`` payload (the uploaded file's reference);
    errors name the file as the visitor called it, not by its server path."""
    upload = uploaded_file(payload)
    if upload is None:
        return None
    with uploads_named(*upload):
        return load_image(upload[0])


@contextmanager
def uploads_named(path: str | Path, name: str | None = None) -> Iterator[None]:
    """Errors raised inside name an uploaded file as the visitor called it, not by its server path."""
    try:
        yield
    except ValueError as error:
        raise ValueError(str(error).replace(str(path), name or Path(path).name)) from None
