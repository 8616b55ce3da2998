"""The columns of the app's tables, known before any model loads, so that an empty table (before
the first analysis, or for a photo without a face) still shows what each column holds."""

from __future__ import annotations

import pandas as pd

from fer_video.constants import CLASSES

FACE_COLUMNS = ["face", "label", "confidence", "x1", "y1", "x2", "y2", "score", *CLASSES]
LIVE_COLUMNS = ["face", "label", "confidence", *CLASSES]
TIMELINE_COLUMNS = ["time_s", "emotion", "probability"]


def empty_table(columns: list[str]) -> pd.DataFrame:
    """A table with ``columns`` and no row."""
    return pd.DataFrame(columns=columns)
