"""Server-side limits of the web app, set from ``fer-video app`` options."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AppSettings:
    """Limits that protect the server.

    ``max_upload_mb`` caps any uploaded file; ``max_video_seconds`` the length of a video to
    analyse; ``concurrency`` how many analyses run at once (the rest wait in a queue of at most
    ``queue_size``); ``stream_every`` seconds between webcam frames sent by the Live tab;
    ``live_time_limit_s`` how long one Live session may stream; ``live_history_s`` the span of
    its rolling timeline.
    """

    max_upload_mb: float = 50.0
    max_video_seconds: float = 120.0
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
    def max_file_size(self) -> int:
        """The upload cap in bytes, as ``launch(max_file_size=...)`` takes it."""
        return int(self.max_upload_mb * 1024 * 1024)
