"""Per-frame features for shot detection, computed in one pass over the pixels of each frame.

Colour is taken in YCbCr (BT.601, full range, 8-bit integer coefficients): luma and two
colour-difference channels are closer to what a viewer perceives as "the picture changed" than
RGB, and integer arithmetic makes the NumPy reference bit-exact. Per frame the kernel writes

- a per-channel histogram of Y, Cb and Cr (`bins` bins each), normalised so a row sums to 1
  (so every channel block sums to 1/3 and distances between rows land in [0, 1]);
- mean and standard deviation of luma (fades run the mean to an extreme, blank frames have a
  tiny deviation);
- the luma plane itself (dissolve fitting and pixel differences need it);
- an edge bitmap: 1 where |dY/dx| + |dY/dy| (central differences, edges replicated) reaches
  `edge_threshold`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._checks import require_dtype, require_ndim
from ._compile import helper, kernel

#: BT.601 full-range YCbCr in 8-bit fixed point: value = (c_r*R + c_g*G + c_b*B) >> 8 (+128 for chroma)
Y_COEFFS = (77, 150, 29)
CB_COEFFS = (-43, -85, 128)
CR_COEFFS = (128, -107, -21)


class FrameFeatures(NamedTuple):
    """What `frame_features` returns: one row (or plane) per frame."""

    #: (n, 3*bins) float32, histograms of Y, Cb, Cr side by side; each row sums to 1
    hist: np.ndarray
    #: (n,) float64 mean luma in [0, 255]
    luma_mean: np.ndarray
    #: (n,) float64 standard deviation of luma
    luma_std: np.ndarray
    #: (n, H, W) float32 luma plane, integer values 0..255
    luma: np.ndarray
    #: (n, H, W) uint8 edge bitmap, 0 or 1
    edges: np.ndarray


@helper
def _edge_row(luma: np.ndarray, edges: np.ndarray, r: int, thr: int) -> None:
    # Row r needs rows r-1 and r+1, clamped at the borders (edge replication). Row views and
    # branch-light clamping keep this loop cheap: it was a third of the kernel's time.
    h, w = luma.shape
    up = luma[max(r - 1, 0)]
    mid = luma[r]
    down = luma[min(r + 1, h - 1)]
    row = edges[r]
    for x in range(w):
        # x - 1 and x + 1 clamped into the row; only the two border pixels ever clamp.
        left = x - 1 if x > 0 else 0
        right = x + 1 if x < w - 1 else w - 1
        g = abs(int(mid[right]) - int(mid[left])) + abs(int(down[x]) - int(up[x]))
        row[x] = 1 if g >= thr else 0


@kernel("void(uint8[:, :, :, ::1], int64, int64, float32[:, ::1], float64[::1], float64[::1], "
        "float32[:, :, ::1], uint8[:, :, ::1])")
def _frame_features(
    frames: np.ndarray,
    bins: int,
    edge_threshold: int,
    hist: np.ndarray,
    luma_mean: np.ndarray,
    luma_std: np.ndarray,
    luma: np.ndarray,
    edges: np.ndarray,
) -> None:
    n, h, w, _ = frames.shape
    npix = h * w
    counts = np.zeros(3 * bins, np.int64)
    for i in range(n):
        counts[:] = 0
        total = 0
        total_sq = 0
        for y in range(h):
            for x in range(w):
                r = int(frames[i, y, x, 0])
                g = int(frames[i, y, x, 1])
                b = int(frames[i, y, x, 2])
                yy = (77 * r + 150 * g + 29 * b) >> 8
                cb = ((-43 * r - 85 * g + 128 * b) >> 8) + 128
                cr = ((128 * r - 107 * g - 21 * b) >> 8) + 128
                # v * bins >> 8 maps 0..255 onto 0..bins-1 for any bins <= 256
                counts[(yy * bins) >> 8] += 1
                counts[bins + ((cb * bins) >> 8)] += 1
                counts[2 * bins + ((cr * bins) >> 8)] += 1
                luma[i, y, x] = yy
                total += yy
                total_sq += yy * yy
            # Edges of the previous row can be computed now that the row below it exists:
            # the rows stay in cache and the frame is still read only once.
            if y >= 1:
                _edge_row(luma[i], edges[i], y - 1, edge_threshold)
        _edge_row(luma[i], edges[i], h - 1, edge_threshold)
        norm = 1.0 / (3.0 * npix)
        for k in range(3 * bins):
            hist[i, k] = counts[k] * norm
        mean = total / npix
        luma_mean[i] = mean
        var = total_sq / npix - mean * mean
        luma_std[i] = np.sqrt(var) if var > 0.0 else 0.0


def frame_features(
    frames: np.ndarray, bins: int = 16, edge_threshold: int = 48
) -> FrameFeatures:
    """Colour histograms, luma statistics, luma plane and edge bitmap of each frame.

    `frames` is (n, H, W, 3) uint8 RGB (n may be 0). `bins` (2..256) is the number of histogram
    bins per channel; `edge_threshold` is the |dY/dx| + |dY/dy| (central differences, 0..1020)
    at which a pixel counts as an edge.
    """
    require_dtype("frames", frames, (np.uint8,))
    require_ndim("frames", frames, 4, "(n, H, W, 3) RGB")
    if frames.shape[3] != 3:
        raise ValueError(f"frames must be (n, H, W, 3) RGB, got {frames.shape}: drop alpha first")
    n, h, w, _ = frames.shape
    if n and (h == 0 or w == 0):
        raise ValueError(f"frames must have at least one pixel, got shape {frames.shape}")
    if not 2 <= bins <= 256:
        raise ValueError(f"bins must be in 2..256, got {bins}")
    if not 0 <= edge_threshold <= 1021:
        raise ValueError(f"edge_threshold must be in 0..1021, got {edge_threshold}")
    out = FrameFeatures(
        hist=np.empty((n, 3 * bins), np.float32),
        luma_mean=np.empty(n, np.float64),
        luma_std=np.empty(n, np.float64),
        luma=np.empty((n, h, w), np.float32),
        edges=np.empty((n, h, w), np.uint8),
    )
    if n:
        _frame_features(
            np.ascontiguousarray(frames), int(bins), int(edge_threshold), *out
        )
    return out
