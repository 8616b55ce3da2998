"""The annotated video: every input frame, re-read with PyAV, with the most recent analysed
result drawn on it, encoded H.264 (libx264, yuv420p) with the input's own timestamps, so the
output has the input's duration and frame rate (variable rates included); the audio stream is
copied (or converted to AAC when MP4 cannot hold its codec). Frames larger than
:data:`DEFAULT_VIDEO_SIZE` on their shorter side (4K phone videos) are scaled down before they are
drawn on: converting, drawing and encoding 4K frames costs about three times as much as 1080p ones.

:class:`AnnotatedVideoWriter` runs in its own thread so decoding, drawing and encoding overlap
the analysis; the analysis hands it results in frame order with :meth:`~AnnotatedVideoWriter.submit`.
A live source cannot be re-read: :class:`FrameVideoWriter` encodes the analysed frames themselves,
as they are handed over, at their own times.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from fer_video.video.decode import frame_to_rgb, scaled_size, upright
from fer_video.video.draw import draw_tracks
from fer_video.video.errors import VideoError
from fer_video.video.state import TrackState
from fer_video.video.timing import StageTimer

#: libx264 settings: ``ultrafast`` takes about a third less time than ``superfast`` for files
#: about twice as large (still a few MB per minute of 720p), which keeps encoding off the
#: critical path of analysing faster than real time on two cores (results/bench_video.md).
X264_OPTIONS = {"preset": "ultrafast", "crf": "23"}

#: The annotated video's shorter side is at most this many pixels unless asked otherwise (1080p).
DEFAULT_VIDEO_SIZE = 1080
#: ... and no smaller than this when one is given (labels stay legible).
MIN_VIDEO_SIZE = 144

_END = (float("inf"), [])
_BT601, _LIMITED_RANGE = 6, 1  # AVCOL_SPC_SMPTE170M, AVCOL_RANGE_MPEG: what _yuv_frame produces


class AnnotatedVideoWriter:
    """Writes ``target`` from ``source`` in a background thread (see the module docstring).

    ``rotation`` turns stored frames upright (as the analysis saw them); only the first
    ``frame_limit`` frames (and the audio up to ``duration_limit_s``) are written; frames are scaled
    down so their shorter side is at most ``max_size`` pixels (0: written at the input's size).
    """

    def __init__(
        self,
        source: Path,
        target: Path,
        rotation: int,
        frame_limit: int,
        duration_limit_s: float | None = None,
        timer: StageTimer | None = None,
        max_size: int = DEFAULT_VIDEO_SIZE,
    ) -> None:
        self.source, self.target, self.rotation = Path(source), Path(target), rotation
        self.max_size = max_size
        self.frame_limit = frame_limit
        self.duration_limit_s = duration_limit_s
        self.timer = timer or StageTimer()
        self.frames_written = 0
        self.error: BaseException | None = None
        self._results: queue.Queue[tuple[float, Sequence[TrackState]]] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fer-video-encode", daemon=True)

    def start(self) -> AnnotatedVideoWriter:
        self._thread.start()
        return self

    def submit(self, frame_index: int, states: Sequence[TrackState]) -> None:
        """The analysis result of frame ``frame_index`` (indices must increase)."""
        self._results.put((frame_index, states))

    def finish(self, poll: float = 0.5, on_wait: Callable[[], None] | None = None) -> None:
        """No more results: wait for the remaining frames to be written (calling ``on_wait()``
        every ``poll`` seconds meanwhile), then raise the thread's error, if any."""
        self._results.put(_END)
        while self._thread.is_alive():
            self._thread.join(poll)
            if on_wait is not None:
                on_wait()
        self.raise_error()

    def abort(self) -> None:
        """Stop writing as soon as possible (the partial file is left to the caller to delete)."""
        self._stop.set()
        self._results.put(_END)
        self._thread.join()

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error

    @property
    def progress(self) -> float:
        return min(1.0, self.frames_written / max(self.frame_limit, 1))

    def _run(self) -> None:
        try:
            self._write()
        except av.error.FFmpegError as error:
            reason = " ".join(str(getattr(error, "strerror", None) or error).split())
            self.error = VideoError(
                f"cannot decode {self.source} near frame {self.frames_written}: truncated or corrupt file ({reason})"
            )
        except BaseException as error:  # handed to the caller's thread by raise_error()
            self.error = error

    def _write(self) -> None:
        with av.open(str(self.source)) as source, av.open(str(self.target), "w") as target:
            video_in = source.streams.video[0]
            video_in.thread_type = "AUTO"
            audio_in = source.streams.audio[0] if source.streams.audio else None
            stored = (video_in.codec_context.width, video_in.codec_context.height)
            scaled = scaled_size(*stored, self.max_size)
            box_scale = scaled[0] / stored[0]
            video_out = _add_video_stream(target, video_in, self.rotation, scaled)
            audio = _AudioCopier(target, audio_in, self.duration_limit_s) if audio_in is not None else None
            times = _FrameTimes(video_in)
            current: Sequence[TrackState] = []
            pending = self._results.get()
            demux = source.demux(*(s for s in (video_in, audio_in) if s is not None))
            for packet in demux:
                if self._stop.is_set() or (self.frames_written >= self.frame_limit and (audio is None or audio.done)):
                    break
                if packet.stream.type == "audio":
                    audio.copy(packet)
                    continue
                if self.frames_written >= self.frame_limit:
                    continue
                with self.timer.stage("video_decode"):
                    decoded = [(frame.pts, frame_to_rgb(frame, scaled)) for frame in packet.decode()]
                for pts, pixels in decoded[: self.frame_limit - self.frames_written]:
                    while pending[0] <= self.frames_written:
                        current, pending = pending[1], self._results.get()
                    with self.timer.stage("draw"):
                        picture = _even(np.ascontiguousarray(upright(pixels, self.rotation)))
                        draw_tracks(picture, current, box_scale)
                    with self.timer.stage("encode"):
                        frame = _yuv_frame(picture)
                        frame.pts, frame.time_base = times.next_pts(pts), video_in.time_base
                        target.mux(video_out.encode(frame))
                    self.frames_written += 1
            with self.timer.stage("encode"):
                target.mux(video_out.encode(None))
                if audio is not None:
                    audio.flush()


class FrameVideoWriter:
    """An H.264 MP4 of pictures handed over one at a time with their times in seconds (a variable
    frame rate; ``rate`` is the nominal one). The file is written beside ``target`` under a hidden
    name and moved onto ``target`` by :meth:`close`, so an interrupted run leaves no broken file;
    pictures keep the first one's size (later ones of another size are resized to it)."""

    #: Time base of the output stream: timestamps in milliseconds.
    TIME_BASE = Fraction(1, 1000)

    def __init__(self, target: Path, rate: float = 10.0) -> None:
        self.target = Path(target)
        self.partial = self.target.with_name(f".{self.target.stem}.{os.getpid()}.partial{self.target.suffix}")
        self.rate = Fraction(rate).limit_denominator(1000) if rate > 0 else Fraction(30)
        self.frames_written = 0
        self._container: av.container.OutputContainer | None = None
        self._stream = None
        self._last_pts: int | None = None

    def write(self, picture: np.ndarray, time_s: float) -> None:
        """Append the RGB uint8 ``picture`` (H, W, 3), shown from ``time_s`` seconds."""
        if self._container is None:
            self._open(picture.shape[1] - picture.shape[1] % 2, picture.shape[0] - picture.shape[0] % 2)
        width, height = self._stream.width, self._stream.height
        picture = _even(picture)
        if picture.shape[:2] != (height, width):
            picture = cv2.resize(picture, (width, height), interpolation=cv2.INTER_AREA)
        frame = _yuv_frame(np.ascontiguousarray(picture))
        pts = round(time_s / self.TIME_BASE)
        pts = pts if self._last_pts is None or pts > self._last_pts else self._last_pts + 1
        frame.pts, frame.time_base, self._last_pts = pts, self.TIME_BASE, pts
        self._container.mux(self._stream.encode(frame))
        self.frames_written += 1

    def close(self) -> Path | None:
        """Finish the file and move it into place; ``None`` when no picture was written."""
        if self._container is None:
            return None
        try:
            self._container.mux(self._stream.encode(None))
        finally:
            self._container.close()
            self._container = None
        self.partial.replace(self.target)
        return self.target

    def abort(self) -> None:
        """Close and delete the partial file."""
        if self._container is not None:
            self._container.close()
            self._container = None
        self.partial.unlink(missing_ok=True)

    def _open(self, width: int, height: int) -> None:
        self._container = av.open(str(self.partial), "w", format="mp4")
        self._stream = self._container.add_stream("libx264", rate=self.rate, options=dict(X264_OPTIONS))
        self._stream.width, self._stream.height, self._stream.pix_fmt = width, height, "yuv420p"
        self._stream.codec_context.time_base = self.TIME_BASE
        self._stream.codec_context.colorspace = _BT601
        self._stream.codec_context.color_range = _LIMITED_RANGE


def _yuv_frame(picture: np.ndarray) -> av.VideoFrame:
    """An RGB picture as a yuv420p frame: OpenCV converts several times faster than swscale's
    RGB path, with the same BT.601 limited-range matrix (which the stream is tagged with)."""
    return av.VideoFrame.from_ndarray(cv2.cvtColor(picture, cv2.COLOR_RGB2YUV_I420), format="yuv420p")


def _even(picture: np.ndarray) -> np.ndarray:
    """Crop one row/column if needed: yuv420p needs even sizes."""
    height, width = picture.shape[:2]
    return picture[: height - height % 2, : width - width % 2]


def _add_video_stream(
    target: av.container.OutputContainer,
    video_in: av.video.stream.VideoStream,
    rotation: int,
    size: tuple[int, int],
):
    """An H.264 stream of the upright, even-sized frames decoded at ``size`` (width, height as
    stored), in the input's time base."""
    width, height = size
    if rotation in (90, 270):
        width, height = height, width
    rate = video_in.average_rate or video_in.guessed_rate or Fraction(25)
    stream = target.add_stream("libx264", rate=rate, options=dict(X264_OPTIONS))
    stream.width, stream.height = width - width % 2, height - height % 2
    stream.pix_fmt = "yuv420p"
    stream.codec_context.time_base = video_in.time_base
    stream.codec_context.colorspace = _BT601
    stream.codec_context.color_range = _LIMITED_RANGE
    return stream


class _FrameTimes:
    """Output timestamps: the input frame's own (variable rates stay variable), made strictly
    increasing; frames without one continue at the average rate."""

    def __init__(self, video_in: av.video.stream.VideoStream) -> None:
        rate = video_in.average_rate or video_in.guessed_rate or Fraction(25)
        self.step = max(1, round(1 / (rate * video_in.time_base)))
        self.last: int | None = None

    def next_pts(self, pts: int | None) -> int:
        if pts is None:
            pts = 0 if self.last is None else self.last + self.step
        if self.last is not None and pts <= self.last:
            pts = self.last + 1
        self.last = pts
        return pts


class _AudioCopier:
    """Copies the audio packets unchanged, or re-encodes them to AAC when the MP4 container
    cannot hold the input's audio codec; stops at ``duration_limit_s``."""

    def __init__(
        self,
        target: av.container.OutputContainer,
        audio_in: av.audio.stream.AudioStream,
        duration_limit_s: float | None,
    ) -> None:
        self.target = target
        self.limit = duration_limit_s
        self.start = audio_in.start_time or 0
        self.time_base = audio_in.time_base
        self.done = False  # True once past the duration limit
        self.remux = audio_in.codec_context.name in target.supported_codecs
        if self.remux:
            self.stream = target.add_stream_from_template(audio_in)
        else:
            self.stream = target.add_stream("aac", rate=audio_in.codec_context.sample_rate or 48000)

    def copy(self, packet: av.Packet) -> None:
        if packet.dts is None:  # the demuxer's end-of-stream marker
            return
        if (
            self.limit is not None
            and packet.pts is not None
            and (packet.pts - self.start) * self.time_base >= self.limit
        ):
            self.done = True
            return
        if self.remux:
            packet.stream = self.stream
            self.target.mux(packet)
            return
        for frame in packet.decode():
            frame.pts = None
            self.target.mux(self.stream.encode(frame))

    def flush(self) -> None:
        if not self.remux:
            self.target.mux(self.stream.encode(None))
