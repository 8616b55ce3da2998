"""Box arithmetic of the MTCNN cascade and non-maximum suppression, without torchvision.

``generate_boxes``, ``bbreg``, ``rerec`` and ``batched_nms_min`` compute, in NumPy, what
facenet-pytorch's functions of the same purpose compute with PyTorch (MIT licence);
:func:`batched_nms` keeps what ``torchvision.ops.batched_nms`` keeps, in the same order
(tests/test_faces.py compares them). Importing torchvision takes longer than importing PyTorch,
for a function this small.
"""

from __future__ import annotations

import numpy as np

#: P-net's output stride and window size, in pixels of the pyramid level.
PNET_STRIDE, PNET_CELL = 2, 12


def generate_boxes(
    regression: np.ndarray, probs: np.ndarray, scale: float, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """P-net's candidate windows on one pyramid level from its regression (B, 4, h, w) and face
    probability (B, h, w): ``(K, 9)`` rows ``x1, y1, x2, y2, score, 4 regression offsets`` in image
    pixels, and each one's image index (K,)."""
    where = np.argwhere(probs >= threshold)
    image_inds, rows, cols = where[:, 0], where[:, 1], where[:, 2]
    score = probs[image_inds, rows, cols]
    offsets = regression.transpose(0, 2, 3, 1)[image_inds, rows, cols]
    cells = np.stack([cols, rows], axis=1).astype(regression.dtype)
    top_left = np.floor((PNET_STRIDE * cells + 1) / np.float32(scale))
    bottom_right = np.floor((PNET_STRIDE * cells + PNET_CELL) / np.float32(scale))
    return np.concatenate([top_left, bottom_right, score[:, None], offsets], axis=1), image_inds


def bbreg(boxes: np.ndarray, regression: np.ndarray) -> np.ndarray:
    """``boxes`` (K, >=4) with their corners moved by the regression offsets (K, 4), in units of the
    box's (inclusive) width and height; the other columns are kept."""
    width = boxes[:, 2] - boxes[:, 0] + 1
    height = boxes[:, 3] - boxes[:, 1] + 1
    moved = boxes.copy()
    moved[:, :4] = boxes[:, :4] + regression[:, :4] * np.stack([width, height, width, height], axis=1)
    return moved


def rerec(boxes: np.ndarray) -> np.ndarray:
    """``boxes`` (K, >=4) made square (side: the longer one) around the same centres."""
    height = boxes[:, 3] - boxes[:, 1]
    width = boxes[:, 2] - boxes[:, 0]
    side = np.maximum(width, height)
    squared = boxes.copy()
    squared[:, 0] = boxes[:, 0] + width * 0.5 - side * 0.5
    squared[:, 1] = boxes[:, 1] + height * 0.5 - side * 0.5
    squared[:, 2:4] = squared[:, :2] + side[:, None]
    return squared


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes (N, 4: x1, y1, x2, y2) kept by greedy non-maximum suppression, by
    decreasing score: a box is dropped when its IoU with a kept, higher-scored box exceeds
    ``iou_threshold`` (ties in score keep the input order)."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1) * (y2 - y1)
    order = np.argsort(-scores, kind="stable")
    keep = []
    with np.errstate(divide="ignore", invalid="ignore"):
        while order.size:
            best, rest = order[0], order[1:]
            keep.append(best)
            width = np.maximum(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0)
            height = np.maximum(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0)
            inter = width * height
            order = rest[~(inter / (areas[best] + areas[rest] - inter) > iou_threshold)]
    return np.asarray(keep, np.int64)


def batched_nms(boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray, iou_threshold: float) -> np.ndarray:
    """:func:`nms` within each group (e.g. image) separately; the kept indices by decreasing score."""
    kept = [np.zeros(0, np.int64)]
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        kept.append(members[nms(boxes[members], scores[members], iou_threshold)])
    keep = np.sort(np.concatenate(kept))
    return keep[np.argsort(-scores[keep], kind="stable")]


def batched_nms_min(boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray, threshold: float) -> np.ndarray:
    """MTCNN's last suppression, per group: overlap is the intersection over the smaller box's area,
    with facenet-pytorch's inclusive pixel areas (+1) and its order of visiting the boxes."""
    if boxes.size == 0:
        return np.zeros(0, np.int64)
    offsets = groups.astype(boxes.dtype) * (boxes.max() + 1)  # boxes of different groups cannot overlap
    shifted = boxes + offsets[:, None]
    x1, y1, x2, y2 = shifted[:, 0], shifted[:, 1], shifted[:, 2], shifted[:, 3]
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores)
    keep = []
    while order.size:
        best, rest = order[-1], order[:-1]
        keep.append(best)
        width = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1)
        height = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1)
        order = rest[width * height / np.minimum(areas[best], areas[rest]) <= threshold]
    return np.asarray(keep, np.int64)
