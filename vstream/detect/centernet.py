"""The CenterNet box encoding: boxes -> heatmap/size/offset training targets (the peak decode
that turns the detection head's outputs back into boxes is `vstream.detect.box_decode`).

A box with centre (cx, cy) in input pixels belongs to cell (floor(cy / s), floor(cx / s)) of the
stride-s grid. That cell's heatmap peak is 1, with a Gaussian around it (`gaussian_sigma`) so
near-misses are penalised less; the cell stores the offset (cx / s - ix, cy / s - iy) in [0, 1)
and the log size (log(w / s), log(h / s)).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: least Gaussian sigma in cells: a face 3 cells wide still lights its neighbours a little
MIN_SIGMA = 0.5
#: Gaussian sigma per box side: a sixth of it. TTFNet's narrower 0.54 of that (a large person's
#: target less of a plateau, against nested boxes on close-ups) was tried on 2026-12-04, with
#: bodies-only person targets, and lost persons: recall 0.79 against 0.85 on the music video's
#: held-out frames, 4 against 6 of bikes.mp4's 13 people marked by hand, while 75 nested pairs
#: of 123 stayed (docs/models.md, "Nested person boxes").
SIGMA_PER_SIDE = 1 / 6


def gaussian_sigma(width_cells: float, height_cells: float) -> tuple[float, float]:
    """The target Gaussian's sigma (x, y) in cells of a box width_cells x height_cells."""
    return max(width_cells * SIGMA_PER_SIDE, MIN_SIGMA), max(height_cells * SIGMA_PER_SIDE, MIN_SIGMA)


class CenterTargets(NamedTuple):
    """Training targets of one frame on an (h, w) grid for n boxes."""

    heatmap: np.ndarray  # (n_classes, h, w) float32 in [0, 1], 1 exactly at box centres
    index: np.ndarray  # (n,) int64 flat cell index iy * w + ix of each box's centre
    size: np.ndarray  # (n, 2) float32 log(w / stride), log(h / stride)
    offset: np.ndarray  # (n, 2) float32 centre offset within the cell, in [0, 1)


def encode_targets(
    boxes: np.ndarray, classes: np.ndarray, n_classes: int, grid: tuple[int, int], stride: int
) -> CenterTargets:
    """CenterNet targets of boxes (n, 4) x1, y1, x2, y2 in input pixels with classes (n,)."""
    h, w = grid
    heat = np.zeros((n_classes, h, w), np.float32)
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    n = len(boxes)
    index = np.zeros(n, np.int64)
    size = np.zeros((n, 2), np.float32)
    offset = np.zeros((n, 2), np.float32)
    ys = np.arange(h, dtype=np.float32)[:, None]
    xs = np.arange(w, dtype=np.float32)[None, :]
    for k in range(n):
        x1, y1, x2, y2 = boxes[k]
        bw, bh = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
        cx = np.clip((x1 + x2) / 2 / stride, 0, w - 1e-3)
        cy = np.clip((y1 + y2) / 2 / stride, 0, h - 1e-3)
        ix, iy = int(cx), int(cy)
        sx, sy = gaussian_sigma(bw / stride, bh / stride)
        g = np.exp(-((xs - ix) ** 2) / (2 * sx * sx) - ((ys - iy) ** 2) / (2 * sy * sy))
        c = int(classes[k])
        np.maximum(heat[c], g, out=heat[c])
        heat[c, iy, ix] = 1.0
        index[k] = iy * w + ix
        size[k] = np.log(bw / stride), np.log(bh / stride)
        offset[k] = cx - ix, cy - iy
    return CenterTargets(heat, index, size, offset)
