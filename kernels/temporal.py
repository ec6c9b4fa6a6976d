"""Kernels over time: rolling robust statistics of a score series, and dissolve fitting."""

from __future__ import annotations

import numpy as np

from ._checks import float64_contiguous, require_dtype, require_ndim
from ._compile import helper, kernel


@helper
def _insertion_sort(v: np.ndarray, k: int) -> None:
    # Windows are short (tens of values): insertion sort in place beats np.sort's allocation.
    for i in range(1, k):
        x = v[i]
        j = i - 1
        while j >= 0 and v[j] > x:
            v[j + 1] = v[j]
            j -= 1
        v[j + 1] = x


@kernel("void(float64[::1], int64, int64, float64[::1], float64[::1])")
def _rolling_median_mad(
    x: np.ndarray, window: int, min_count: int, med: np.ndarray, mad: np.ndarray
) -> None:
    n = x.shape[0]
    buf = np.empty(window, np.float64)
    dev = np.empty(window, np.float64)
    for i in range(n):
        k = 0
        for j in range(max(i - window, 0), i):
            v = x[j]
            if not np.isnan(v):
                buf[k] = v
                k += 1
        if k < min_count:
            med[i] = np.nan
            mad[i] = np.nan
            continue
        _insertion_sort(buf, k)
        m = 0.5 * (buf[(k - 1) // 2] + buf[k // 2])
        for j in range(k):
            dev[j] = abs(buf[j] - m)
        _insertion_sort(dev, k)
        med[i] = m
        mad[i] = 0.5 * (dev[(k - 1) // 2] + dev[k // 2])


def rolling_median_mad(
    x: np.ndarray, window: int, min_count: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Median and median absolute deviation of the `window` values BEFORE each position.

    `x` is (n,) float32/float64. Position i looks at x[max(0, i-window):i] (not x[i] itself, so
    a spike is judged against what came before it), skipping NaN. Where fewer than `min_count`
    values are available both outputs are NaN. Returns (median, mad), each (n,) float64.
    """
    require_dtype("x", x, (np.float32, np.float64))
    require_ndim("x", x, 1, "(n,) series")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if not 1 <= min_count <= window:
        raise ValueError(f"min_count must be in 1..window ({window}), got {min_count}")
    med = np.empty(x.shape[0], np.float64)
    mad = np.empty(x.shape[0], np.float64)
    if x.shape[0]:
        _rolling_median_mad(
            float64_contiguous(x), int(window), int(min_count), med, mad
        )
    return med, mad


@kernel("void(float64[:, :, ::1], float64[::1], float64[::1])")
def _blend_fit(planes: np.ndarray, alpha: np.ndarray, residual: np.ndarray) -> None:
    m, h, w = planes.shape
    first = planes[0]
    last = planes[m - 1]
    span2 = 0.0
    for y in range(h):
        for x in range(w):
            d = np.float64(last[y, x]) - np.float64(first[y, x])
            span2 += d * d
    for i in range(m):
        dot = 0.0
        for y in range(h):
            for x in range(w):
                dot += (np.float64(planes[i, y, x]) - np.float64(first[y, x])) * (
                    np.float64(last[y, x]) - np.float64(first[y, x])
                )
        if not span2 > 0.0:  # identical ends (or NaN): no transition to fit
            alpha[i] = np.nan
            residual[i] = np.nan
            continue
        a = dot / span2
        err = 0.0
        for y in range(h):
            for x in range(w):
                e = (
                    np.float64(planes[i, y, x])
                    - np.float64(first[y, x])
                    - a * (np.float64(last[y, x]) - np.float64(first[y, x]))
                )
                err += e * e
        alpha[i] = a
        residual[i] = np.sqrt(err / span2)


def blend_fit(planes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fit every plane as a linear blend of the first and last: p_i ~ p_0 + a_i (p_last - p_0).

    `planes` is (m, H, W) float32/float64, m >= 2 (e.g. the luma of the frames across a
    suspected dissolve or fade). Returns (alpha, residual), each (m,) float64: alpha is the
    least-squares blend weight (0 at the first plane, 1 at the last), residual is
    ||p_i - fit|| / ||p_last - p_0||. A true dissolve gives residuals near 0 and a monotone
    alpha; camera or object motion gives large residuals. Both are NaN when the end planes are
    identical or contain NaN.
    """
    require_dtype("planes", planes, (np.float32, np.float64))
    require_ndim("planes", planes, 3, "(m, H, W) planes")
    if planes.shape[0] < 2:
        raise ValueError(f"planes needs at least 2 planes to fit between, got {planes.shape[0]}")
    if planes.shape[1] == 0 or planes.shape[2] == 0:
        raise ValueError(f"planes must have at least one pixel, got shape {planes.shape}")
    alpha = np.empty(planes.shape[0], np.float64)
    residual = np.empty(planes.shape[0], np.float64)
    _blend_fit(float64_contiguous(planes), alpha, residual)
    return alpha, residual
