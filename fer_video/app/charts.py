"""The per-face probability chart shown by the Image tab."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from matplotlib.figure import Figure

from fer_video.imaging import CLASS_COLORS


class ScoredFace(Protocol):
    probabilities: dict[str, float]
    label: str


def probability_figure(faces: Sequence[ScoredFace], max_faces: int = 6) -> Figure:
    """One horizontal bar chart of emotion probabilities per face (the first ``max_faces``, two
    per row), titled ``face N: label``, bars coloured like the boxes in the annotated image."""
    shown = list(faces[:max_faces])
    columns = 1 if len(shown) <= 1 else 2
    rows = max(1, math.ceil(len(shown) / columns))
    figure = Figure(figsize=(4.2 * columns, 0.5 + 1.9 * rows), layout="constrained")
    grid = figure.subplots(rows, columns, squeeze=False).ravel()
    for axes in grid[len(shown) :]:
        axes.axis("off")
    if not shown:
        grid[0].text(0.5, 0.5, "no face found", ha="center", va="center")
        return figure
    for index, (axes, face) in enumerate(zip(grid, shown)):
        names = list(face.probabilities)
        colors = [tuple(c / 255 for c in CLASS_COLORS.get(name, (128, 128, 128))) for name in names]
        axes.barh(names, [face.probabilities[name] for name in names], color=colors)
        axes.invert_yaxis()
        axes.set_xlim(0, 1)
        axes.set_title(f"face {index}: {face.label}", fontsize=10)
        axes.tick_params(labelsize=8)
    if len(faces) > len(shown):
        figure.suptitle(f"first {len(shown)} of {len(faces)} faces (all are in the table)", fontsize=9)
    return figure
