"""Video: decode -> detect -> track -> classify -> smooth -> outputs (one folder per video).

    from fer_video.video import VideoOptions, annotate_video
    report = annotate_video("talk.mp4", "out/talk", VideoOptions(fps=10, smoothing="gru"))
    print(report.tracks, report.timeline_csv)

``annotate_batch`` does many videos (resumable); ``LiveAnalyzer`` tracks and smooths a webcam
stream frame by frame.
"""

from fer_video.video.batch import BatchReport, annotate_batch, find_videos
from fer_video.video.decode import VIDEO_SUFFIXES, VideoInfo, VideoSource
from fer_video.video.errors import VideoError
from fer_video.video.live import LiveAnalyzer
from fer_video.video.pipeline import VideoOptions, VideoReport, annotate_video, load_models
from fer_video.video.state import TrackState
from fer_video.video.tracker import IouTracker

__all__ = [
    "VIDEO_SUFFIXES",
    "BatchReport",
    "IouTracker",
    "LiveAnalyzer",
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
]
