"""Slow, obviously-correct NumPy references for every kernel in vstream.kernels (as STUMPY's
tests/naive.py). Vectorised over whole arrays, no numba, written for clarity not speed."""

from __future__ import annotations

import numpy as np


def frame_features(frames: np.ndarray, bins: int = 16, edge_threshold: int = 48):
    f = frames.astype(np.int64)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    y = (77 * r + 150 * g + 29 * b) >> 8
    cb = ((-43 * r - 85 * g + 128 * b) >> 8) + 128
    cr = ((128 * r - 107 * g - 21 * b) >> 8) + 128
    n, h, w = y.shape
    hist = np.zeros((n, 3 * bins))
    for c, plane in enumerate((y, cb, cr)):
        for i in range(n):
            hist[i, c * bins : (c + 1) * bins] = np.bincount(
                ((plane[i] * bins) >> 8).ravel(), minlength=bins
            )
    hist /= 3.0 * h * w
    padded = np.pad(y, ((0, 0), (1, 1), (1, 1)), mode="edge")
    gx = padded[:, 1:-1, 2:] - padded[:, 1:-1, :-2]
    gy = padded[:, 2:, 1:-1] - padded[:, :-2, 1:-1]
    edges = (np.abs(gx) + np.abs(gy) >= edge_threshold).astype(np.uint8)
    return (
        hist,
        y.mean(axis=(1, 2)),
        y.std(axis=(1, 2)),
        y.astype(np.float32),
        edges,
    )


def histogram_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    s = a + b
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.where(s == 0, 0.0, (a - b) ** 2 / s)
    return 0.5 * terms.sum(axis=1)


def _dilate(m: np.ndarray, radius: int) -> np.ndarray:
    h, w = m.shape
    p = np.pad(m != 0, radius)
    out = np.zeros((h, w), bool)
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            out |= p[dy : dy + h, dx : dx + w]
    return out


def edge_change_ratio(a: np.ndarray, b: np.ndarray, radius: int = 1) -> np.ndarray:
    out = np.zeros(len(a))
    for i in range(len(a)):
        ea, eb = a[i] != 0, b[i] != 0
        na, nb = ea.sum(), eb.sum()
        exiting = (ea & ~_dilate(eb, radius)).sum()
        entering = (eb & ~_dilate(ea, radius)).sum()
        out[i] = max(exiting / na if na else 0.0, entering / nb if nb else 0.0)
    return out


def mean_abs_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.float64) - b.astype(np.float64)).mean(axis=(1, 2))


def rolling_median_mad(x: np.ndarray, window: int, min_count: int = 1):
    med = np.full(len(x), np.nan)
    mad = np.full(len(x), np.nan)
    for i in range(len(x)):
        v = x[max(0, i - window) : i].astype(np.float64)
        v = v[~np.isnan(v)]
        if len(v) >= min_count and len(v):
            med[i] = np.median(v)
            mad[i] = np.median(np.abs(v - med[i]))
    return med, mad


def blend_fit(planes: np.ndarray):
    p = planes.astype(np.float64).reshape(len(planes), -1)
    first, last = p[0], p[-1]
    span = last - first
    span2 = span @ span
    if not span2 > 0:
        nan = np.full(len(p), np.nan)
        return nan, nan.copy()
    alpha = (p - first) @ span / span2
    fit = first + alpha[:, None] * span
    residual = np.sqrt(((p - fit) ** 2).sum(axis=1) / span2)
    return alpha, residual


# ------------------------------------------------------------------ tracking (iou, kalman)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)[:, None, :]
    b = b.astype(np.float64)[None, :, :]
    iw = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
    ih = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)

    def area(x):
        return np.clip(x[..., 2] - x[..., 0], 0, None) * np.clip(x[..., 3] - x[..., 1], 0, None)

    union = area(a) + area(b) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
    nan = np.isnan(a).any(axis=-1) | np.isnan(b).any(axis=-1)
    return np.where(nan, np.nan, out).astype(np.float32)


_F = np.eye(8)
_F[:4, 4:] = np.eye(4)
_H = np.eye(4, 8)


def kalman_predict(mean, cov, wp=1 / 20, wv=1 / 160):
    # ByteTrack's KalmanFilter.multi_predict, written with full matrices.
    out_mean = mean @ _F.T
    out_cov = np.empty_like(cov)
    for t in range(len(mean)):
        h = mean[t, 3]
        q = np.diag(np.square([wp * h, wp * h, 1e-2, wp * h, wv * h, wv * h, 1e-5, wv * h]))
        out_cov[t] = _F @ cov[t] @ _F.T + q
    return out_mean, out_cov


def kalman_update(mean, cov, z, wp=1 / 20):
    # ByteTrack's KalmanFilter.update (project, then gain with an explicit inverse).
    out_mean = np.empty_like(mean)
    out_cov = np.empty_like(cov)
    for t in range(len(mean)):
        h = mean[t, 3]
        r = np.diag(np.square([wp * h, wp * h, 1e-1, wp * h]))
        s = _H @ cov[t] @ _H.T + r
        k = cov[t] @ _H.T @ np.linalg.inv(s)
        out_mean[t] = mean[t] + k @ (z[t] - _H @ mean[t])
        out_cov[t] = cov[t] - k @ s @ k.T
    return out_mean, out_cov


# ------------------------------------------------------------------ guided filter
def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    I = guide.astype(np.float64)
    p = src.astype(np.float64)
    h, w = p.shape

    def window(y: int, x: int) -> tuple[slice, slice]:
        return slice(max(y - radius, 0), y + radius + 1), slice(max(x - radius, 0), x + radius + 1)

    a = np.zeros((h, w, 3))
    b = np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            ys, xs = window(y, x)
            colours = I[ys, xs].reshape(-1, 3)
            values = p[ys, xs].ravel()
            mean_i = colours.mean(axis=0)
            cov = (colours - mean_i).T @ (colours - mean_i) / len(values)
            cross = (colours - mean_i).T @ (values - values.mean()) / len(values)
            a[y, x] = np.linalg.solve(cov + eps * np.eye(3), cross)
            b[y, x] = values.mean() - a[y, x] @ mean_i
    out = np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            ys, xs = window(y, x)
            out[y, x] = a[ys, xs].reshape(-1, 3).mean(axis=0) @ I[y, x] + b[ys, xs].mean()
    return out.astype(np.float32)
