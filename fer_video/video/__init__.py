"""Video: decode -> detect -> track -> classify -> smooth -> outputs (one folder per video).

    from fer_video.video import VideoOptions, annotate_video
    report = annotate_video("talk.mp4", "out/talk", VideoOptions(fps=10, smoothing="gru"))
    print(report.tracks, report.timeline_csv)

``annotate_batch`` does many videos (resumable); ``LiveAnalyzer`` tracks and smooths a webcam
stream frame by frame, and ``run_live`` analyses a camera, stream URL or file as it plays.
Names are imported on first use (:mod:`fer_video.lazy`), so a submodule such as
:mod:`fer_video.video.stream` loads without the models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fer_video.lazy import lazy_exports

if TYPE_CHECKING:
    from fer_video.video.batch import BatchReport, annotate_batch, find_videos
    from fer_video.video.decode import VIDEO_SUFFIXES, VideoInfo, VideoSource
    from fer_video.video.errors import VideoError
    from fer_video.video.live import LiveAnalyzer
    from fer_video.video.live_runner import LiveOptions, LiveReport, run_live
    from fer_video.video.pipeline import VideoOptions, VideoReport, annotate_video, load_models
    from fer_video.video.state import TrackState
    from fer_video.video.tracker import IouTracker

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "VIDEO_SUFFIXES": "fer_video.video.decode",
        "BatchReport": "fer_video.video.batch",
        "IouTracker": "fer_video.video.tracker",
        "LiveAnalyzer": "fer_video.video.live",
        "LiveOptions": "fer_video.video.live_runner",
        "LiveReport": "fer_video.video.live_runner",
        "TrackState": "fer_video.video.state",
        "VideoError": "fer_video.video.errors",
        "VideoInfo": "fer_video.video.decode",
        "VideoOptions": "fer_video.video.pipeline",
        "VideoReport": "fer_video.video.pipeline",
        "VideoSource": "fer_video.video.decode",
        "annotate_batch": "fer_video.video.batch",
        "annotate_video": "fer_video.video.pipeline",
        "find_videos": "fer_video.video.batch",
        "load_models": "fer_video.video.pipeline",
        "run_live": "fer_video.video.live_runner",
    },
)

__all__ = [
    "VIDEO_SUFFIXES",
    "BatchReport",
    "IouTracker",
    "LiveAnalyzer",
    "LiveOptions",
    "LiveReport",
    "TrackState",
    "VideoError",
    "VideoInfo",
    "VideoOptions",
    "VideoReport",
    "VideoSource",
    "annotate_batch",
    "annotate_video",
    "find_videos",
    "load_models",
    "run_live",
]
