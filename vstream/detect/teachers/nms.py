"""Greedy non-maximum suppression in NumPy (torchvision is not importable beside our torch).

Two overlap measures, as MTCNN's reference uses them: "union" (IoU, continuous box areas
(x2-x1)*(y2-y1), what `torchvision.ops.nms` computes) and "min" (intersection over the smaller
box, with the "+1 pixel" areas (x2-x1+1)*(y2-y1+1) of the reference's `nms_numpy`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

NmsMode = Literal["union", "min"]


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: NmsMode = "union") -> np.ndarray:
    """Indices of the boxes kept by greedy NMS, highest score first.

    boxes (n, 4) xyxy and scores (n,), float. A box is dropped when its overlap with an already
    kept, higher-scoring box is greater than `threshold` (so overlap == threshold is kept, as in
    torchvision and the MTCNN reference). Returns (k,) int64.
    """
    boxes = np.asarray(boxes, np.float64)
    scores = np.asarray(scores, np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4 or scores.shape != (len(boxes),):
        raise ValueError(f"nms needs boxes (n, 4) and scores (n,), got {boxes.shape} and {scores.shape}")
    if mode not in ("union", "min"):
        raise ValueError(f"mode must be 'union' or 'min', got {mode!r}")
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    # "+1" areas only for "min": each mode reproduces the function the reference calls for it
    one = 1.0 if mode == "min" else 0.0
    x1, y1, x2, y2 = boxes.T
    area = (x2 - x1 + one) * (y2 - y1 + one)
    # stable sort on -score: ties keep input order, as torchvision's sort does on CPU
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + one)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + one)
        inter = w * h
        if mode == "min":
            overlap = inter / np.minimum(area[i], area[rest])
        else:
            overlap = inter / (area[i] + area[rest] - inter)
        # NaN overlap (two zero-area boxes in "union") compares False: the box is kept
        order = rest[~(overlap > threshold)]
    return np.asarray(keep, np.int64)


def batched_nms(boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray, threshold: float,
                mode: NmsMode = "union") -> np.ndarray:
    """NMS independently within each group (an image of a batch): kept indices into `boxes`,
    sorted by decreasing score across groups (like `torchvision.ops.batched_nms`)."""
    groups = np.asarray(groups)
    scores = np.asarray(scores)
    if groups.shape != (len(boxes),):
        raise ValueError(f"groups must be (n,) with n = {len(boxes)}, got {groups.shape}")
    keep = [np.flatnonzero(groups == g)[nms(boxes[groups == g], scores[groups == g], threshold, mode)]
            for g in np.unique(groups)]
    if not keep:
        return np.zeros(0, np.int64)
    kept = np.concatenate(keep)
    return kept[np.argsort(-scores[kept].astype(np.float64), kind="stable")]
