"""Numba kernels: pure array functions with checked public wrappers (no vstream imports).

Compiled ahead of time where `python -m vstream.kernels.build` has run (scripts/setup.sh runs
it), so a process need not import numba; JIT-compiled by numba otherwise (`_compile.py`).

Installed as `vstream.kernels` (pyproject maps this folder), so modules here import each other
relatively.
"""

from .distance import (
    TOTAL_LUMA_CHANGE,
    edge_change_ratio,
    histogram_distance,
    mean_abs_difference,
    picture_change,
)
from .features import FrameFeatures, frame_features
from .guided import guided_filter
from .temporal import blend_fit, rolling_median_mad

__all__ = [
    "FrameFeatures",
    "TOTAL_LUMA_CHANGE",
    "blend_fit",
    "edge_change_ratio",
    "frame_features",
    "guided_filter",
    "histogram_distance",
    "mean_abs_difference",
    "picture_change",
    "rolling_median_mad",
]

from .assignment import linear_sum_assignment  # noqa: E402
from .iou import iou_matrix  # noqa: E402
from .kalman import kalman_predict, kalman_update  # noqa: E402

__all__ += ["iou_matrix", "kalman_predict", "kalman_update", "linear_sum_assignment"]
