"""Where fer-video keeps what it derives and can rebuild: decoded data, ONNX exports, teacher logits."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$FER_VIDEO_CACHE`` if set, else ``$XDG_CACHE_HOME/fer_video`` (``~/.cache/fer_video``)."""
    override = os.environ.get("FER_VIDEO_CACHE")
    if override:
        return Path(override)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fer_video"
