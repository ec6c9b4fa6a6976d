"""Kalman steps of ByteTrack's constant-velocity box model, vectorised over tracks.

State per track (8,): (cx, cy, a, h, vcx, vcy, va, vh), box centre, aspect ratio w/h, height and
their velocities; measurement (4,): (cx, cy, a, h). Noise scales with the box height as in
ByteTrack (`yolox/tracker/kalman_filter.py`): position std = std_weight_position * h, velocity
std = std_weight_velocity * h, aspect-ratio std fixed (1e-2 and 1e-5 process, 1e-1 measurement).
"""

from __future__ import annotations

import numpy as np

from ._checks import require_dtype, require_ndim
from ._compile import helper, kernel

STD_WEIGHT_POSITION = 1.0 / 20
STD_WEIGHT_VELOCITY = 1.0 / 160


@kernel("void(float64[:, ::1], float64[:, :, ::1], float64, float64, float64[:, ::1], float64[:, :, ::1])")
def _kalman_predict(mean, cov, wp, wv, out_mean, out_cov) -> None:
    n = mean.shape[0]
    q = np.empty(8)
    for t in range(n):
        h = mean[t, 3]
        q[0] = wp * h
        q[1] = wp * h
        q[2] = 1e-2
        q[3] = wp * h
        q[4] = wv * h
        q[5] = wv * h
        q[6] = 1e-5
        q[7] = wv * h
        for i in range(4):
            out_mean[t, i] = mean[t, i] + mean[t, i + 4]
            out_mean[t, i + 4] = mean[t, i + 4]
        # F = [[I, I], [0, I]]: (F P F^T)[i, j] = sum of the P entries F selects on each side.
        for i in range(8):
            for j in range(8):
                v = cov[t, i, j]
                if i < 4:
                    v += cov[t, i + 4, j]
                if j < 4:
                    v += cov[t, i, j + 4]
                if i < 4 and j < 4:
                    v += cov[t, i + 4, j + 4]
                out_cov[t, i, j] = v
            out_cov[t, i, i] += q[i] * q[i]


def _check_state(mean: np.ndarray, cov: np.ndarray) -> None:
    require_dtype("mean", mean, (np.float64,))
    require_dtype("cov", cov, (np.float64,))
    require_ndim("mean", mean, 2, "(n, 8) states")
    require_ndim("cov", cov, 3, "(n, 8, 8) covariances")
    if mean.shape[1] != 8 or cov.shape[1:] != (8, 8) or cov.shape[0] != mean.shape[0]:
        raise ValueError(f"mean must be (n, 8) and cov (n, 8, 8), got {mean.shape} and {cov.shape}")


def kalman_predict(
    mean: np.ndarray,
    cov: np.ndarray,
    std_weight_position: float = STD_WEIGHT_POSITION,
    std_weight_velocity: float = STD_WEIGHT_VELOCITY,
) -> tuple[np.ndarray, np.ndarray]:
    """One constant-velocity step (dt = 1 frame) for n tracks.

    `mean` (n, 8) and `cov` (n, 8, 8) are float64. Returns new (mean, cov); the inputs are not
    changed. The process noise uses each track's prior height mean[:, 3]. NaN in a track's state
    stays in that track; other tracks are unaffected.
    """
    _check_state(mean, cov)
    out_mean = np.empty(mean.shape)  # C order, as the kernel signature has it
    out_cov = np.empty(cov.shape)
    if mean.shape[0]:
        _kalman_predict(np.ascontiguousarray(mean), np.ascontiguousarray(cov),
                        float(std_weight_position), float(std_weight_velocity), out_mean, out_cov)
    return out_mean, out_cov


@kernel("void(float64[:, ::1], float64[:, :, ::1], float64[:, ::1], float64, float64[:, ::1], float64[:, :, ::1])")
def _kalman_update(mean, cov, z, wp, out_mean, out_cov) -> None:
    n = mean.shape[0]
    s = np.empty((4, 4))
    low = np.empty((4, 4))
    gain = np.empty((8, 4))
    r = np.empty(4)
    y = np.empty(4)
    for t in range(n):
        h = mean[t, 3]
        r[0] = wp * h
        r[1] = wp * h
        r[2] = 1e-1
        r[3] = wp * h
        # Innovation covariance S = H P H^T + R (H selects the first four state entries).
        for i in range(4):
            for j in range(4):
                s[i, j] = cov[t, i, j]
            s[i, i] += r[i] * r[i]
        # Cholesky S = L L^T (S is 4x4 symmetric positive definite).
        for i in range(4):
            for j in range(i + 1):
                acc = s[i, j]
                for k in range(j):
                    acc -= low[i, k] * low[j, k]
                if i == j:
                    low[i, i] = np.sqrt(acc)
                else:
                    low[i, j] = acc / low[j, j]
            for j in range(i + 1, 4):
                low[i, j] = 0.0
        # Gain K = P H^T S^-1: solve L L^T K^T = H P row by row of K.
        for row in range(8):
            for i in range(4):
                acc = cov[t, row, i]
                for k in range(i):
                    acc -= low[i, k] * y[k]
                y[i] = acc / low[i, i]
            for i in range(3, -1, -1):
                acc = y[i]
                for k in range(i + 1, 4):
                    acc -= low[k, i] * gain[row, k]
                gain[row, i] = acc / low[i, i]
        for i in range(8):
            acc = mean[t, i]
            for k in range(4):
                acc += gain[i, k] * (z[t, k] - mean[t, k])
            out_mean[t, i] = acc
        # P' = P - K S K^T = P - K (H P).
        for i in range(8):
            for j in range(8):
                acc = cov[t, i, j]
                for k in range(4):
                    acc -= gain[i, k] * cov[t, k, j]
                out_cov[t, i, j] = acc


def kalman_update(
    mean: np.ndarray,
    cov: np.ndarray,
    measurement: np.ndarray,
    std_weight_position: float = STD_WEIGHT_POSITION,
) -> tuple[np.ndarray, np.ndarray]:
    """Correct n predicted tracks with their measurements (cx, cy, a, h).

    `mean` (n, 8), `cov` (n, 8, 8) and `measurement` (n, 4) are float64; row i of `measurement`
    belongs to track i. Returns new (mean, cov). A NaN in a track's measurement makes that
    track's mean NaN (its covariance does not depend on the measurement); a NaN in its state or
    covariance makes both NaN. Other tracks are unaffected.
    """
    _check_state(mean, cov)
    require_dtype("measurement", measurement, (np.float64,))
    require_ndim("measurement", measurement, 2, "(n, 4) measurements")
    if measurement.shape != (mean.shape[0], 4):
        raise ValueError(f"measurement must be ({mean.shape[0]}, 4), one row per track, got {measurement.shape}")
    out_mean = np.empty(mean.shape)  # C order, as the kernel signature has it
    out_cov = np.empty(cov.shape)
    if mean.shape[0]:
        _kalman_update(np.ascontiguousarray(mean), np.ascontiguousarray(cov),
                       np.ascontiguousarray(measurement), float(std_weight_position), out_mean, out_cov)
    return out_mean, out_cov
