"""Opening a video for analysis with PyAV: metadata, real timestamps, and frames decoded forward in
one pass, kept only at the indices asked for.

Frames always come out upright RGB uint8 (H, W, 3): phone videos store frames sideways plus a
display rotation, which is read and applied here. Timestamps are the frames' real presentation
times, so variable-frame-rate videos are sampled by time, not by frame count. Decoding is pulled
frame by frame, so memory does not depend on the video's length. (decord, used before, decodes
ahead in a background thread whenever the caller is slower than the decoder, which analysis
always is: its buffered frames grew with the video, to 2.1 GB for 2 minutes of 640x360, against
0.6 GB flat here; see dmlc/decord issues #208 and #304.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from fer_video.video.errors import VideoError

#: Frames are analysed with their shorter side at most this many pixels (4K at 1080p). Faces are detected on
#: frames shrunk to 640 pixels a side at most, where they must be 40 pixels wide, so every face found is over
#: 100 pixels wide at 1080p, twice the CNN's 48; converting, shrinking and cropping whole 4K frames took about
#: a third of the analysis (results/bench_video_4k.md).
ANALYSIS_SIZE = 1080

#: File suffixes taken as videos when a folder is given.
VIDEO_SUFFIXES: tuple[str, ...] = (
    ".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".wmv", ".flv", ".mpg", ".mpeg", ".ts", ".mts", ".3gp",
)  # fmt: skip


@dataclass(frozen=True)
class VideoInfo:
    """What the pipeline needs to know about a video. ``width``/``height`` are the upright
    (displayed) size; ``rotation`` is how far (degrees, counter-clockwise: 0, 90, 180 or 270)
    the stored frames are turned to show them upright; ``fps`` is the average frame rate."""

    path: Path
    width: int
    height: int
    frame_count: int
    fps: float
    duration_s: float
    rotation: int
    has_audio: bool


def upright(frame: np.ndarray, rotation: int) -> np.ndarray:
    """A stored frame turned ``rotation`` degrees counter-clockwise (a view when no copy is needed)."""
    return np.rot90(frame, k=(rotation // 90) % 4) if rotation % 360 else frame


def scaled_size(width: int, height: int, max_size: int) -> tuple[int, int]:
    """``(width, height)`` shrunk so the shorter side is at most ``max_size`` pixels, both even; unchanged
    when it is not larger, or ``max_size`` is 0."""
    shorter = min(width, height)
    if not 0 < max_size < shorter:
        return width, height
    factor = max_size / shorter
    return 2 * max(1, round(width * factor / 2)), 2 * max(1, round(height * factor / 2))


def frame_to_rgb(frame: av.VideoFrame, size: tuple[int, int]) -> np.ndarray:
    """The decoded ``frame`` as RGB uint8 of ``size`` (width, height). Shrinking the yuv420p planes
    before converting them is several times faster than swscale's scaled RGB path at 4K."""
    if (frame.width, frame.height) == size:
        return frame.to_ndarray(format="rgb24")
    if frame.format.name != "yuv420p" or frame.width % 2 or frame.height % 2 or size[0] % 2 or size[1] % 2:
        return cv2.resize(frame.to_ndarray(format="rgb24"), size, interpolation=cv2.INTER_AREA)
    planes = frame.to_ndarray(format="yuv420p")  # Y (H, W) on top of U and V (H/4, W) each
    width, height = size
    luma = cv2.resize(planes[: frame.height], size, interpolation=cv2.INTER_AREA)
    chroma = planes[frame.height :].reshape(2, frame.height // 2, frame.width // 2)
    half = (width // 2, height // 2)
    u, v = (cv2.resize(plane, half, interpolation=cv2.INTER_AREA).reshape(-1, width) for plane in chroma)
    return cv2.cvtColor(np.concatenate([luma, u, v]), cv2.COLOR_YUV2RGB_I420)


def sample_indices(timestamps: np.ndarray, fps: float) -> np.ndarray:
    """Indices of the frames to analyse: the first frame in each ``1 / fps`` second slot of the
    (sorted) ``timestamps``; every frame when ``fps`` is 0 or at least the video's own rate."""
    if fps <= 0 or len(timestamps) == 0:
        return np.arange(len(timestamps))
    slots = np.floor((timestamps - timestamps[0]) * fps + 1e-6).astype(np.int64)
    return np.unique(slots, return_index=True)[1]


def _read_rotation(stream: av.video.stream.VideoStream, first: av.VideoFrame) -> int:
    """Counter-clockwise display rotation (0, 90, 180, 270) from the frame's display matrix, or
    the legacy ``rotate`` tag (clockwise degrees) older demuxers exported."""
    degrees = float(first.rotation or 0)
    if not degrees and stream.metadata.get("rotate"):
        try:
            degrees = -float(stream.metadata["rotate"])
        except ValueError:
            degrees = 0.0
    return round(degrees / 90) % 4 * 90


def _open_container(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise VideoError(f"file not found: {path}")
    if path.is_dir():
        raise VideoError(f"is a folder, not a video file: {path}")
    if path.stat().st_size == 0:
        raise VideoError(f"empty file (0 bytes): {path}")
    if not os.access(path, os.R_OK):
        raise VideoError(f"permission denied: {path}")
    try:
        return av.open(str(path))
    except av.error.FFmpegError as error:
        raise VideoError(f"not a video or unreadable: {path} ({_reason(error)})") from None


def _reason(error: Exception) -> str:
    """The useful part of a decoder's exception message, on one line."""
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return " ".join(str(text).split())[:160]


@dataclass(frozen=True)
class _Scan:
    """What one pass over a video's packets tells: the stream's average frame rate (0 if unknown),
    whether there is audio, the first stored frame (RGB), its rotation, and each frame's
    [start, end) presentation time in seconds (in display order)."""

    rate: float
    has_audio: bool
    first: np.ndarray
    rotation: int
    stamps: np.ndarray


def _scan(path: Path) -> _Scan:
    """Read every packet's timestamp, decoding only until the first frame comes out."""
    with _open_container(path) as container:
        if not container.streams.video:
            kind = "audio only" if container.streams.audio else "no video stream"
            raise VideoError(f"not a video: {path} ({kind})")
        stream = container.streams.video[0]
        first, pts = None, []
        try:
            for packet in container.demux(stream):  # the last packet is empty and flushes the decoder
                if packet.pts is not None:
                    pts.append(packet.pts)
                if first is None:
                    first = next(iter(packet.decode()), None)
        except av.error.FFmpegError as error:
            raise VideoError(f"cannot decode {path}: truncated or corrupt file ({_reason(error)})") from None
        if first is None or not pts:
            raise VideoError(f"no video frames in {path} (zero-length or truncated)")
        rate = float(stream.average_rate or 0)
        base, step = stream.time_base, 1 / float(stream.average_rate or stream.guessed_rate or 25)
        starts = np.array([float(t * base) for t in sorted(pts)])
        stamps = np.stack([starts, np.append(starts[1:], starts[-1] + step)], axis=1)
        rotation = _read_rotation(stream, first)
        return _Scan(rate, bool(container.streams.audio), first.to_ndarray(format="rgb24"), rotation, stamps)


class _SequentialFrames:
    """Forward-only decoding with PyAV: frames decoded in order and kept only at the requested
    indices (increasing from call to call), as RGB of ``size`` (width, height as stored)."""

    def __init__(self, path: Path, size: tuple[int, int]) -> None:
        self.size = size
        self.container = av.open(str(path))
        self.container.streams.video[0].thread_type = "AUTO"
        self.frames = enumerate(self.container.decode(video=0))

    def read(self, indices: np.ndarray) -> np.ndarray:
        wanted, out = set(map(int, indices)), []
        for index, frame in self.frames:
            if index in wanted:
                out.append(frame_to_rgb(frame, self.size))
            if index >= indices[-1]:
                break
        if len(out) != len(indices):
            raise EOFError(f"the stream ended before frame {int(indices[-1])}")
        return np.stack(out)


class VideoSource:
    """One video opened for analysis: :attr:`info`, the real frame :attr:`timestamps` (seconds
    from the first frame) and :meth:`read` for upright RGB frames by index (in increasing order),
    shrunk to :data:`ANALYSIS_SIZE` when larger: :attr:`scale` is the frames' pixels per input pixel
    and :attr:`frame_size` their upright (width, height)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        scan = _scan(self.path)
        stored_height, stored_width = scan.first.shape[:2]
        size = scaled_size(stored_width, stored_height, ANALYSIS_SIZE)
        self.scale = size[0] / stored_width
        self.frame_size = size[::-1] if scan.rotation % 180 else size
        try:
            self._reader = _SequentialFrames(self.path, size)
        except av.error.FFmpegError as error:
            raise VideoError(f"cannot decode {self.path}: truncated or corrupt file ({_reason(error)})") from None
        self._turn = scan.rotation
        stamps = scan.stamps
        self.timestamps = stamps[:, 0] - stamps[0, 0]
        duration = float(stamps[-1, 1] - stamps[0, 0])
        rate = scan.rate or (len(stamps) / duration if duration > 0 else 0.0)
        height, width = upright(scan.first, scan.rotation).shape[:2]
        self.info = VideoInfo(self.path, width, height, len(stamps), rate, duration, scan.rotation, scan.has_audio)

    def analysis_indices(self, fps: float, max_duration_s: float | None = None) -> np.ndarray:
        """Frames to analyse at ``fps`` (0: every frame), within the first ``max_duration_s`` seconds."""
        indices = sample_indices(self.timestamps, fps)
        if max_duration_s is not None:
            indices = indices[self.timestamps[indices] < max_duration_s]
        return indices

    def frame_limit(self, max_duration_s: float | None) -> int:
        """How many frames (from the start) fall within ``max_duration_s`` seconds."""
        if max_duration_s is None:
            return self.info.frame_count
        return int(np.searchsorted(self.timestamps, max_duration_s, side="left"))

    def read(self, indices: np.ndarray) -> np.ndarray:
        """Upright RGB uint8 frames (N, H, W, 3) at the sorted ``indices``, decoded in one batch."""
        try:
            frames = self._reader.read(indices)
        except (av.error.FFmpegError, EOFError):  # damaged or truncated data
            first = int(indices[0]) if len(indices) else 0
            raise VideoError(
                f"cannot decode {self.path} near frame {first} of {self.info.frame_count}: truncated or corrupt file"
            ) from None
        if self._turn:
            frames = np.ascontiguousarray(np.rot90(frames, k=self._turn // 90, axes=(1, 2)))
        return frames

    def close(self) -> None:
        if self._reader is not None:
            self._reader.container.close()
        self._reader = None

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
