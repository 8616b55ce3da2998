"""Drawing tracked faces on video frames: box, ``#id label`` tag and a confidence bar.

OpenCV primitives, drawn in place: a frame of a long video is drawn in well under a
millisecond. Colours are the per-emotion colours of :mod:`fer_video.imaging`, so photos and
videos look alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from fer_video.imaging import CLASS_COLORS
from fer_video.video.state import TrackState

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_TEXT_COLOR = (0, 0, 0)
_BAR_BACKGROUND = (40, 40, 40)


def draw_tracks(frame: np.ndarray, states: Sequence[TrackState], scale: float = 1.0) -> np.ndarray:
    """Draw every tracked face on the RGB uint8 ``frame`` (modified in place and returned); ``scale``
    maps the faces' boxes (in the input's pixels) onto the frame (the input scaled down)."""
    short_side = min(frame.shape[:2])
    line = max(1, round(short_side / 300))
    font_scale = max(0.4, short_side / 900)
    thickness = max(1, round(font_scale * 1.5))
    for state in states:
        color = CLASS_COLORS.get(state.label, (255, 255, 255))
        x1, y1, x2, y2 = (round(v * scale) for v in state.box)
        cv2.rectangle(frame, (x1, y1), (x2, y2), color, line, cv2.LINE_AA)
        _draw_tag(frame, f"#{state.track_id} {state.label}", (x1, y1), color, font_scale, thickness)
        _draw_bar(frame, state.confidence, (x1, y2), max(x2 - x1, 1), color, line)
    return frame


def _draw_tag(
    frame: np.ndarray, text: str, corner: tuple[int, int], color: tuple[int, int, int], scale: float, thickness: int
) -> None:
    """``text`` on a filled label just above ``corner`` (inside the frame if there is no room)."""
    (width, height), baseline = cv2.getTextSize(text, _FONT, scale, thickness)
    pad = max(2, height // 4)
    x, y = corner
    top = y - height - baseline - 2 * pad
    if top < 0:
        top = y
    cv2.rectangle(frame, (x, top), (x + width + 2 * pad, top + height + baseline + 2 * pad), color, cv2.FILLED)
    cv2.putText(frame, text, (x + pad, top + pad + height), _FONT, scale, _TEXT_COLOR, thickness, cv2.LINE_AA)


def _draw_bar(
    frame: np.ndarray, confidence: float, corner: tuple[int, int], width: int, color: tuple[int, int, int], line: int
) -> None:
    """A bar under the box, filled in proportion to the smoothed label's probability."""
    height = max(4, 3 * line)
    x, y = corner[0], corner[1] + line + 1
    if y + height >= frame.shape[0]:
        y = corner[1] - height - line - 1  # no room below the box: draw it inside, at the bottom
    cv2.rectangle(frame, (x, y), (x + width, y + height), _BAR_BACKGROUND, cv2.FILLED)
    filled = round(width * min(max(confidence, 0.0), 1.0))
    if filled:
        cv2.rectangle(frame, (x, y), (x + filled, y + height), color, cv2.FILLED)
