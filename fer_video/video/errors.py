"""The one error type the video layer raises for bad input."""

from __future__ import annotations


class VideoError(ValueError):
    """A video cannot be read or its outputs cannot be written; the message is one line that
    names the file and the reason."""
