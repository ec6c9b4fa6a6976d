"""Frame-to-frame distances, vectorised over rows: histogram, edge and pixel differences."""

from __future__ import annotations

import numpy as np

from ._checks import float64_contiguous as _float64
from ._checks import require_dtype, require_ndim, require_same_shape
from ._compile import helper, kernel


@kernel("void(float64[:, ::1], float64[:, ::1], float64[::1])")
def _histogram_distance(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    n, m = a.shape
    for i in range(n):
        acc = 0.0
        for k in range(m):
            x = np.float64(a[i, k])
            y = np.float64(b[i, k])
            s = x + y
            # Empty bins on both sides carry no information; a NaN fails `s == 0.0` and
            # propagates into acc, which is the documented behaviour.
            if s == 0.0:
                continue
            d = x - y
            acc += d * d / s
        out[i] = 0.5 * acc


def histogram_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Symmetric chi-square distance 0.5 * sum((a-b)^2 / (a+b)) between rows of `a` and `b`.

    `a` and `b` are (n, m) float32/float64 non-negative histograms. For rows that each sum to 1
    the distance lies in [0, 1] (0: identical, 1: disjoint support). A row with a NaN gives NaN.
    Returns (n,) float64.
    """
    require_dtype("a", a, (np.float32, np.float64))
    require_dtype("b", b, (np.float32, np.float64))
    require_ndim("a", a, 2, "(n, bins)")
    require_same_shape("a", a, "b", b)
    out = np.empty(a.shape[0], np.float64)
    if a.shape[0]:
        _histogram_distance(_float64(a), _float64(b), out)
    return out


@helper
def _has_edge_near(m: np.ndarray, y: int, x: int, radius: int) -> bool:
    h, w = m.shape
    for yy in range(max(y - radius, 0), min(y + radius + 1, h)):
        for xx in range(max(x - radius, 0), min(x + radius + 1, w)):
            if m[yy, xx]:
                return True
    return False


@kernel("void(uint8[:, :, ::1], uint8[:, :, ::1], int64, float64[::1])")
def _edge_change_ratio(a: np.ndarray, b: np.ndarray, radius: int, out: np.ndarray) -> None:
    # Probe the other map around each edge pixel instead of dilating whole maps: edges are a
    # minority of pixels and a match is usually found in the first probes, so this is ~2x
    # faster than dilate-and-compare at 64x36.
    n, h, w = a.shape
    for i in range(n):
        na = 0
        nb = 0
        exiting = 0
        entering = 0
        for y in range(h):
            for x in range(w):
                if a[i, y, x]:
                    na += 1
                    if not (b[i, y, x] or _has_edge_near(b[i], y, x, radius)):
                        exiting += 1
                if b[i, y, x]:
                    nb += 1
                    if not (a[i, y, x] or _has_edge_near(a[i], y, x, radius)):
                        entering += 1
        # Edges vanishing from a frame with edges is total change (1); two edgeless frames
        # (blank) are unchanged (0).
        r_out = exiting / na if na else 0.0
        r_in = entering / nb if nb else 0.0
        out[i] = max(r_out, r_in)


def edge_change_ratio(a: np.ndarray, b: np.ndarray, radius: int = 1) -> np.ndarray:
    """Edge change ratio (Zabih et al.) between edge bitmaps `a[i]` and `b[i]`.

    `a`, `b` are (n, H, W) uint8 bitmaps (nonzero = edge). An edge pixel of `a` "exits" when no
    edge of `b` lies within `radius` pixels (square neighbourhood), and vice versa for entering;
    the ratio is max(exiting / edges(a), entering / edges(b)) in [0, 1]. Returns (n,) float64.
    """
    require_dtype("a", a, (np.uint8, np.bool_))
    require_dtype("b", b, (np.uint8, np.bool_))
    require_ndim("a", a, 3, "(n, H, W) edge bitmaps")
    require_same_shape("a", a, "b", b)
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    out = np.empty(a.shape[0], np.float64)
    if a.shape[0] and a.shape[1] and a.shape[2]:
        _edge_change_ratio(
            np.ascontiguousarray(a).view(np.uint8), np.ascontiguousarray(b).view(np.uint8),
            int(radius), out,
        )
    else:
        out[:] = 0.0
    return out


@kernel("void(float64[:, :, ::1], float64[:, :, ::1], float64[::1])")
def _mean_abs_difference(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    n, h, w = a.shape
    for i in range(n):
        acc = 0.0
        for y in range(h):
            for x in range(w):
                acc += abs(np.float64(a[i, y, x]) - np.float64(b[i, y, x]))
        out[i] = acc / (h * w)


def mean_abs_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean absolute difference between planes `a[i]` and `b[i]`, (n, H, W) float32/float64.

    Returns (n,) float64; a plane pair containing NaN gives NaN.
    """
    require_dtype("a", a, (np.float32, np.float64))
    require_dtype("b", b, (np.float32, np.float64))
    require_ndim("a", a, 3, "(n, H, W) planes")
    require_same_shape("a", a, "b", b)
    if a.shape[0] and (a.shape[1] == 0 or a.shape[2] == 0):
        raise ValueError(f"planes must have at least one pixel, got shape {a.shape}")
    out = np.empty(a.shape[0], np.float64)
    if a.shape[0]:
        _mean_abs_difference(_float64(a), _float64(b), out)
    return out


#: a mean luma difference of this many levels (a quarter of the range) is total change
TOTAL_LUMA_CHANGE = 64.0


def picture_change(hist_a: np.ndarray, hist_b: np.ndarray, luma_a: np.ndarray,
                   luma_b: np.ndarray) -> np.ndarray:
    """How much the picture changed between frames a[i] and b[i], in [0, 1]: the mean of their
    `histogram_distance` and their `mean_abs_difference` of luma scaled so that
    `TOTAL_LUMA_CHANGE` levels count as total (no edges: robust to motion, and the edges of two
    shots coexist in a dissolve). (n, bins) histograms, (n, H, W) luma planes; (n,) float64.
    """
    d = histogram_distance(hist_a, hist_b)
    p = np.minimum(mean_abs_difference(luma_a, luma_b) / TOTAL_LUMA_CHANGE, 1.0)
    return 0.5 * (d + p)
