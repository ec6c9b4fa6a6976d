"""Box overlap cost matrices: IoU between every pair of two sets of xyxy boxes."""

from __future__ import annotations

import numpy as np

from ._checks import float64_contiguous, require_dtype, require_ndim
from ._compile import helper, kernel


@kernel("void(float64[:, ::1], float64[:, ::1], float32[:, ::1])")
def _iou_matrix(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    n = a.shape[0]
    m = b.shape[0]
    for i in range(n):
        ax1 = np.float64(a[i, 0])
        ay1 = np.float64(a[i, 1])
        ax2 = np.float64(a[i, 2])
        ay2 = np.float64(a[i, 3])
        a_nan = ax1 != ax1 or ay1 != ay1 or ax2 != ax2 or ay2 != ay2
        area_a = max(ax2 - ax1, 0.0) * max(ay2 - ay1, 0.0)
        for j in range(m):
            bx1 = np.float64(b[j, 0])
            by1 = np.float64(b[j, 1])
            bx2 = np.float64(b[j, 2])
            by2 = np.float64(b[j, 3])
            # A NaN coordinate makes the pair NaN (max/min would hide it depending on order).
            if a_nan or bx1 != bx1 or by1 != by1 or bx2 != bx2 or by2 != by2:
                out[i, j] = np.nan
                continue
            iw = min(ax2, bx2) - max(ax1, bx1)
            ih = min(ay2, by2) - max(ay1, by1)
            if iw <= 0.0 or ih <= 0.0:
                out[i, j] = 0.0
                continue
            inter = iw * ih
            union = area_a + max(bx2 - bx1, 0.0) * max(by2 - by1, 0.0) - inter
            out[i, j] = inter / union if union > 0.0 else 0.0


def iou_matrix(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in `a_xyxy` with every box in `b_xyxy`.

    `a_xyxy` (n, 4) and `b_xyxy` (m, 4) are float32/float64 boxes (x1, y1, x2, y2). A box with
    x2 < x1 or y2 < y1 has zero area; two zero-area boxes have IoU 0. A pair where either box has
    a NaN coordinate gives NaN. Returns (n, m) float32 (computed in float64).
    """
    require_dtype("a_xyxy", a_xyxy, (np.float32, np.float64))
    require_dtype("b_xyxy", b_xyxy, (np.float32, np.float64))
    require_ndim("a_xyxy", a_xyxy, 2, "(n, 4) boxes")
    require_ndim("b_xyxy", b_xyxy, 2, "(m, 4) boxes")
    if a_xyxy.shape[1] != 4 or b_xyxy.shape[1] != 4:
        raise ValueError(f"boxes must be (n, 4) x1, y1, x2, y2, got {a_xyxy.shape} and {b_xyxy.shape}")
    out = np.empty((a_xyxy.shape[0], b_xyxy.shape[0]), np.float32)
    if out.size:
        _iou_matrix(float64_contiguous(a_xyxy), float64_contiguous(b_xyxy), out)
    return out
