"""CenterNet's boxes from the unified network's dense outputs, in NumPy: what the runtime does
with every batch, on a CPU, without torch (a process that only runs cached graphs never imports
it: 1.3-2.5 s of its start).

A peak is a cell whose probability is the maximum of its 3x3 neighbourhood in its class, which
replaces NMS for centre-based boxes; the top_k peaks of a frame, best first, become boxes from
the size and offset maps at their cells. On a large person the heatmap is a broad hill with
several such peaks, each decoding a box of the same person at another size (1-5 nested boxes on
one man in a close-up), so `distinct_boxes` then drops a box that repeats a better one.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from vstream.kernels import iou_matrix

#: a box overlapping a better one of its class this much (IoU) is the same object
DUPLICATE_IOU = 0.5
#: ... and so is a box lying this much (share of its area) inside a better one of its class
#: whose area it has at least NESTED_AREA_RATIO of: one person's box at another size. A far
#: person seen inside a near one's box is much smaller than it and stays.
NESTED_INSIDE = 0.8
NESTED_AREA_RATIO = 0.3


class DecodedBoxes(NamedTuple):
    """Top-k peaks of a batch, best first per frame."""

    boxes: np.ndarray  # (B, k, 4) float32 x1, y1, x2, y2 in input pixels, clipped to the image
    scores: np.ndarray  # (B, k) float32 peak probabilities
    classes: np.ndarray  # (B, k) int64


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, float32, without overflow warnings for large negative logits."""
    x = np.asarray(x, np.float32)
    return np.exp(-np.logaddexp(np.float32(0), -x)).astype(np.float32)


def local_maxima(heat: np.ndarray) -> np.ndarray:
    """(B, C, h, w) bool: cells equal to the maximum of their 3x3 neighbourhood (edges padded
    with -inf, as max-pooling with padding does)."""
    b, c, h, w = heat.shape
    padded = np.full((b, c, h + 2, w + 2), -np.inf, heat.dtype)
    padded[:, :, 1:-1, 1:-1] = heat
    best = heat.copy()
    for dy in range(3):
        for dx in range(3):
            np.maximum(best, padded[:, :, dy:dy + h, dx:dx + w], out=best)
    return heat == best


def decode_boxes(
    heatmap_logits: np.ndarray,
    log_size: np.ndarray,
    offset: np.ndarray,
    stride: int,
    image_size: tuple[int, int],
    top_k: int,
) -> DecodedBoxes:
    """Peaks of the heatmap -> the top_k boxes of each frame.

    heatmap_logits (B, C, h, w); log_size (log box size in cells) and offset (centre within
    the cell) (B, 2, h, w); image_size (width, height)."""
    b, c, h, w = heatmap_logits.shape
    heat = sigmoid(heatmap_logits)
    flat = (heat * local_maxima(heat)).reshape(b, -1)
    k = min(top_k, c * h * w)
    top = np.argpartition(-flat, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(flat, top, 1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, 1)
    scores = np.take_along_axis(flat, top, 1)
    classes = top // (h * w)
    cell = top % (h * w)
    iy, ix = (cell // w).astype(np.float32), (cell % w).astype(np.float32)
    rows = np.arange(b)[:, None]
    off = offset.reshape(b, 2, h * w).astype(np.float32)
    # exp of a clamped log size: an untrained cell must not overflow to inf
    size = np.exp(np.clip(log_size.reshape(b, 2, h * w).astype(np.float32), -4.0, 6.0)) * stride
    sw, sh = size[rows, 0, cell], size[rows, 1, cell]
    cx = (ix + off[rows, 0, cell]) * stride
    cy = (iy + off[rows, 1, cell]) * stride
    width, height = image_size
    boxes = np.stack((np.clip(cx - sw / 2, 0, width), np.clip(cy - sh / 2, 0, height),
                      np.clip(cx + sw / 2, 0, width), np.clip(cy + sh / 2, 0, height)), axis=-1)
    return DecodedBoxes(boxes.astype(np.float32), scores.astype(np.float32), classes.astype(np.int64))


def distinct_boxes(boxes: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Indices of the boxes (n, 4) xyxy of one frame, sorted best first, that repeat no better
    box of their class (`DUPLICATE_IOU`, `NESTED_INSIDE` / `NESTED_AREA_RATIO`), in order."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    n = len(boxes)
    if n < 2:
        return np.arange(n)
    area = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    iou = iou_matrix(boxes, boxes)
    pair_area = area[:, None] + area[None, :]
    inter = iou * pair_area / (1.0 + iou)  # IoU = inter / (pair_area - inter), solved for inter
    small = np.maximum(np.minimum(area[:, None], area[None, :]), 1e-6)
    big = np.maximum(np.maximum(area[:, None], area[None, :]), 1e-6)
    nested = (inter / small >= NESTED_INSIDE) & (small / big >= NESTED_AREA_RATIO)
    repeats = (classes[:, None] == classes[None, :]) & ((iou >= DUPLICATE_IOU) | nested)
    keep = np.ones(n, bool)
    for i in range(n):
        if keep[i]:
            keep[i + 1:] &= ~repeats[i, i + 1:]
    return np.flatnonzero(keep)
