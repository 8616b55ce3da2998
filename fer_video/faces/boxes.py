"""Box arithmetic of the MTCNN cascade and non-maximum suppression, without torchvision.

``generate_boxes``, ``bbreg``, ``rerec`` and ``batched_nms_min`` compute what facenet-pytorch's
functions of the same purpose compute (MIT licence); :func:`batched_nms` keeps what
``torchvision.ops.batched_nms`` keeps, in the same order (tests/test_faces.py compares them).
Importing torchvision takes longer than importing PyTorch, for a function this small.
"""

from __future__ import annotations

import numpy as np
import torch

#: P-net's output stride and window size, in pixels of the pyramid level.
PNET_STRIDE, PNET_CELL = 2, 12


def generate_boxes(
    regression: torch.Tensor, probs: torch.Tensor, scale: float, threshold: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """P-net's candidate windows on one pyramid level: ``(K, 9)`` rows ``x1, y1, x2, y2, score,
    4 regression offsets`` in image pixels, and each one's image index (K,)."""
    where = (probs >= threshold).nonzero()
    image_inds = where[:, 0]
    score = probs[where[:, 0], where[:, 1], where[:, 2]]
    offsets = regression.permute(0, 2, 3, 1)[where[:, 0], where[:, 1], where[:, 2]]
    cells = where[:, 1:].to(regression.dtype).flip(1)
    top_left = ((PNET_STRIDE * cells + 1) / scale).floor()
    bottom_right = ((PNET_STRIDE * cells + PNET_CELL) / scale).floor()
    return torch.cat([top_left, bottom_right, score[:, None], offsets], dim=1), image_inds


def bbreg(boxes: torch.Tensor, regression: torch.Tensor) -> torch.Tensor:
    """``boxes`` (K, >=4) with their corners moved by the regression offsets (K, 4), in units of the
    box's (inclusive) width and height; the other columns are kept."""
    width = boxes[:, 2] - boxes[:, 0] + 1
    height = boxes[:, 3] - boxes[:, 1] + 1
    moved = boxes.clone()
    moved[:, :4] = boxes[:, :4] + regression[:, :4] * torch.stack([width, height, width, height], dim=1)
    return moved


def rerec(boxes: torch.Tensor) -> torch.Tensor:
    """``boxes`` (K, >=4) made square (side: the longer one) around the same centres."""
    height = boxes[:, 3] - boxes[:, 1]
    width = boxes[:, 2] - boxes[:, 0]
    side = torch.max(width, height)
    squared = boxes.clone()
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


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """:func:`nms` within each group (e.g. image) separately; the kept indices by decreasing score."""
    boxes_np, scores_np, groups_np = (t.detach().cpu().numpy() for t in (boxes, scores, groups))
    kept = [np.zeros(0, np.int64)]
    for group in np.unique(groups_np):
        members = np.flatnonzero(groups_np == group)
        kept.append(members[nms(boxes_np[members], scores_np[members], iou_threshold)])
    keep = np.sort(np.concatenate(kept))
    keep = keep[np.argsort(-scores_np[keep], kind="stable")]
    return torch.as_tensor(keep, dtype=torch.long, device=boxes.device)


def batched_nms_min(boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, threshold: float) -> torch.Tensor:
    """MTCNN's last suppression, per group: overlap is the intersection over the smaller box's area,
    with facenet-pytorch's inclusive pixel areas (+1) and its order of visiting the boxes."""
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    offsets = groups.to(boxes) * (boxes.max() + 1)  # boxes of different groups cannot overlap
    shifted = (boxes + offsets[:, None]).cpu().numpy()
    x1, y1, x2, y2 = shifted[:, 0], shifted[:, 1], shifted[:, 2], shifted[:, 3]
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores.cpu().numpy())
    keep = []
    while order.size:
        best, rest = order[-1], order[:-1]
        keep.append(best)
        width = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1)
        height = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1)
        order = rest[width * height / np.minimum(areas[best], areas[rest]) <= threshold]
    return torch.as_tensor(np.asarray(keep, np.int64), device=boxes.device)
