"""Live frame sources: a camera, a network stream, or a video file played in real time.

:func:`parse_source` names one (``"0"`` is the first camera, through PyAV's v4l2 device on Linux
or avfoundation on macOS; anything with ``://`` is a stream URL FFmpeg reads: http, rtsp,
udp, ...; anything else is a file); :class:`FrameStream` opens it and runs a reader thread
that decodes frames as they come and keeps only the newest one. The analysis takes frames with
:meth:`FrameStream.frames`; a frame it had no time for is replaced by the next one and counted
in :attr:`StreamStats.dropped`, so the analysis never falls behind the source. ``fps`` keeps at most the first frame of each
``1 / fps`` second slot (the others are counted as ``skipped``); files are paced by their
timestamps (``realtime``), or with ``realtime=False`` handed over one by one without dropping.
"""

from __future__ import annotations

import math
import os
import platform
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from fer_video.video.errors import VideoError

if TYPE_CHECKING:
    import av
    import numpy as np

#: Seconds to wait for a stream to open, or for its next packet, before giving up.
DEFAULT_TIMEOUT_S = 10.0
#: Frame step assumed where a frame has no timestamp (seconds).
_FALLBACK_STEP_S = 1 / 30


@dataclass(frozen=True)
class StreamFrame:
    """One decoded frame: ``index`` counts every frame the source gave (from 0), ``time_s`` is its
    presentation time from the first frame (seconds), ``image`` RGB uint8 (H, W, 3), shrunk to
    :data:`~fer_video.video.decode.ANALYSIS_SIZE` when the source's frames are larger, and ``scale``
    the image's pixels per source pixel."""

    index: int
    time_s: float
    image: np.ndarray
    scale: float = 1.0


@dataclass
class StreamStats:
    """What the reader saw: ``read`` frames decoded, ``skipped`` to keep to ``fps``, ``dropped``
    because the analysis was still busy with an earlier one when a newer one came."""

    read: int = 0
    skipped: int = 0
    dropped: int = 0


@dataclass(frozen=True)
class SourceSpec:
    """Where frames come from: ``kind`` is ``camera``, ``url`` or ``file``; ``target`` what PyAV
    opens, with demuxer ``format`` (a device name for cameras) and its ``options``."""

    kind: str
    target: str
    format: str | None = None
    options: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"camera {self.target}" if self.kind == "camera" else self.target


def parse_source(text: str) -> SourceSpec:
    """A camera index (``0``), a ``/dev/video*`` device, a URL (``scheme://...``) or a file path;
    a missing camera or file is a :class:`VideoError` here (a URL is only tried when opened)."""
    text = text.strip()
    if text.isdigit() or text.startswith("/dev/video"):
        return _camera(text)
    if "://" in text:
        return SourceSpec("url", text)
    path = Path(text)
    if not path.is_file():
        raise VideoError(f"file not found: {path}" if not path.exists() else f"not a video file: {path}")
    if not os.access(path, os.R_OK):
        raise VideoError(f"permission denied: {path}")
    return SourceSpec("file", text)


def _camera(text: str) -> SourceSpec:
    system = platform.system()
    if system == "Linux":
        device = f"/dev/video{int(text)}" if text.isdigit() else text
        if not Path(device).exists():
            raise VideoError(f"no camera {text}: {device} does not exist")
        return SourceSpec("camera", device, "v4l2")
    if system == "Darwin" and text.isdigit():
        return SourceSpec("camera", text, "avfoundation", {"framerate": "30"})
    raise VideoError(f"camera {text}: cameras are opened by index on Linux (v4l2) and macOS only; pass a URL")


def check_pacing(spec: SourceSpec, fps: float, realtime: bool | None) -> None:
    """A ``ValueError`` for settings ``spec`` cannot be read with (before anything is opened)."""
    if not (fps >= 0 and math.isfinite(fps)):
        raise ValueError(f"fps must be 0 (every frame) or positive, got {fps}")
    if realtime is False and spec.kind != "file":
        raise ValueError(f"{spec.name} is live: it cannot be read slower than real time (drop --no-realtime)")


class FrameStream:
    """An open source with its reader thread (see the module docstring); close it when done
    (or use it as a context manager)."""

    def __init__(
        self,
        spec: SourceSpec,
        fps: float = 0.0,
        realtime: bool | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        check_pacing(spec, fps, realtime)
        self.spec = spec
        self.fps = fps
        self.paced = spec.kind == "file" if realtime is None else realtime
        self.lossless = spec.kind == "file" and not self.paced
        self.timeout_s = timeout_s
        self.stats = StreamStats()
        self.container = _open(spec, timeout_s)
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        self.error: VideoError | None = None
        self._latest: StreamFrame | None = None
        self._finished = False
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, name="fer-video-stream", daemon=True)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the frames, as the stream declares them."""
        return self.stream.codec_context.width, self.stream.codec_context.height

    @property
    def analysis_size(self) -> tuple[int, int]:
        """``(width, height)`` of the images handed over (:attr:`size`, shrunk when above the analysis size)."""
        from fer_video.video.decode import ANALYSIS_SIZE, scaled_size

        return scaled_size(*self.size, ANALYSIS_SIZE)

    def frames(self, stop: threading.Event | None = None) -> Iterator[StreamFrame]:
        """The newest frame each time the caller asks, until the source ends, :meth:`close`, or
        ``stop`` is set; a read error of the source is raised (a :class:`VideoError`) at the end.
        Reading starts with the first call (opening the source earlier only checks it answers)."""
        if self._thread.ident is None:  # not started yet
            self._thread.start()
        while stop is None or not stop.is_set():
            with self._changed:
                while self._latest is None and not self._finished and not (stop is not None and stop.is_set()):
                    self._changed.wait(0.1)
                frame, self._latest = self._latest, None
                self._changed.notify_all()
            if frame is None:
                break
            yield frame
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        """Stop the reader and close the source."""
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        if not self._thread.is_alive():
            self.container.close()

    def __enter__(self) -> FrameStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self) -> None:
        import av

        from fer_video.video.decode import ANALYSIS_SIZE, frame_to_rgb, scaled_size

        clock = _StreamClock()
        last_slot = -1
        started: float | None = None
        try:
            for frame in self.container.decode(self.stream):
                if self._stop.is_set():
                    break
                index, time_s = self.stats.read, clock.time_of(frame)
                self.stats.read += 1
                slot = math.floor(time_s * self.fps + 1e-6) if self.fps > 0 else index
                if slot == last_slot:
                    self.stats.skipped += 1
                    continue
                last_slot = slot
                if self.paced:
                    started = time.monotonic() - time_s if started is None else started
                    self._stop.wait(max(0.0, started + time_s - time.monotonic()))
                size = scaled_size(frame.width, frame.height, ANALYSIS_SIZE)
                self._offer(StreamFrame(index, time_s, frame_to_rgb(frame, size), size[0] / frame.width))
        except av.error.ExitError:
            self.error = VideoError(f"{self.spec.name}: no data for {self.timeout_s:g} s after {self.stats.read} frames")
        except av.error.FFmpegError as error:
            self.error = VideoError(f"{self.spec.name}: the stream failed after {self.stats.read} frames ({_reason(error)})")
        finally:
            with self._changed:
                self._finished = True
                self._changed.notify_all()

    def _offer(self, frame: StreamFrame) -> None:
        """Hand ``frame`` over: replace an untaken one (counted as dropped), or, lossless, wait for
        the analysis to take the previous one."""
        with self._changed:
            while self.lossless and self._latest is not None and not self._stop.is_set():
                self._changed.wait(0.1)
            if self._latest is not None:
                self.stats.dropped += 1
            self._latest = frame
            self._changed.notify_all()


class _StreamClock:
    """Frame times in seconds from the first frame: the stream's own timestamps, continued
    from the last time where they go missing or jump back (a restarted or wrapped stream)."""

    def __init__(self) -> None:
        self.offset: float | None = None
        self.last = -_FALLBACK_STEP_S

    def time_of(self, frame: av.VideoFrame) -> float:
        stamp = frame.time
        if stamp is None:
            self.last += _FALLBACK_STEP_S
            return self.last
        if self.offset is None:
            self.offset = -stamp
        current = stamp + self.offset
        if current <= self.last:
            self.offset += self.last + _FALLBACK_STEP_S - current
            current = self.last + _FALLBACK_STEP_S
        self.last = current
        return current


def _open(spec: SourceSpec, timeout_s: float) -> av.container.InputContainer:
    """The opened container; every failure is a one-line :class:`VideoError`."""
    import av

    try:
        container = av.open(spec.target, format=spec.format, options=spec.options, timeout=(timeout_s, timeout_s))
    except av.error.ExitError:
        raise VideoError(f"cannot open {spec.name}: no answer within {timeout_s:g} s") from None
    except av.error.FFmpegError as error:
        raise VideoError(f"cannot open {spec.name} ({_reason(error)})") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{spec.name} has no video stream")
    return container


def _reason(error: Exception) -> str:
    """The useful part of an FFmpeg error, on one line."""
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return " ".join(str(text).split())[:160]
