"""Server-side limits of the web app, set from ``fer-video app`` options."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AppSettings:
    """Limits that protect the server.

    ``max_upload_mb`` caps any uploaded file; ``max_video_seconds`` how much of a video is
    analysed (the first 10 minutes by default; longer videos are cut there, with a notice);
    ``concurrency`` how many analyses of each kind (image, video, live frame) run at once, the
    rest waiting their turn, at most ``queue_size`` of each kind (more are refused with a
    message); ``stream_every`` seconds between webcam frames sent by the Live tab;
    ``live_time_limit_s`` how long one Live session may stream; ``live_history_s`` the span of
    its rolling timeline.
    """

    max_upload_mb: float = 1000.0
    max_video_seconds: float = 600.0
    concurrency: int = 1
    queue_size: int = 20
    stream_every: float = 0.3
    live_time_limit_s: int = 600
    live_history_s: float = 20.0

    def __post_init__(self) -> None:
        if self.max_upload_mb <= 0 or self.max_video_seconds <= 0:
            raise ValueError("the maximum upload size and video duration must be positive")
        if self.concurrency < 1 or self.queue_size < 1:
            raise ValueError("concurrency and queue size must be at least 1")
        if not 0.05 <= self.stream_every <= 5:
            raise ValueError(f"stream_every must be between 0.05 and 5 seconds, got {self.stream_every}")
        if self.live_time_limit_s < 1 or self.live_history_s <= 0:
            raise ValueError("the live time limit and history span must be positive")

    @property
    def admitted(self) -> int:
        """Analyses of one kind the server holds at once: running plus waiting."""
        return self.concurrency + self.queue_size

    @property
    def max_file_size(self) -> int:
        """The upload cap in bytes, as ``launch(max_file_size=...)`` takes it."""
        return int(self.max_upload_mb * 1024 * 1024)


def describe_duration(seconds: float) -> str:
    """``seconds`` for people: ``2.5 s``, ``45 s``, ``2 min 5 s``, ``10 min``, ``1 h 30 min``."""
    if seconds < 9.95:
        return f"{seconds:.2g} s"
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min {secs} s" if secs else f"{minutes} min"
