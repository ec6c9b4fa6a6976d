"""ByteTrack's constant-velocity Kalman model over boxes, batched over tracks (numba kernels)."""

from __future__ import annotations

import numpy as np

from vstream.kernels import kalman_predict, kalman_update
from vstream.kernels.kalman import STD_WEIGHT_POSITION, STD_WEIGHT_VELOCITY


def xyxy_to_xyah(xyxy: np.ndarray) -> np.ndarray:
    """(n, 4) x1, y1, x2, y2 -> (n, 4) float64 centre x, centre y, aspect w/h, height."""
    b = np.asarray(xyxy, np.float64)
    w = b[:, 2] - b[:, 0]
    h = b[:, 3] - b[:, 1]
    return np.column_stack([b[:, 0] + w / 2, b[:, 1] + h / 2, w / h, h])


def xyah_to_xyxy(xyah: np.ndarray) -> np.ndarray:
    """(n, >=4) centre x, centre y, aspect, height (extra columns ignored) -> (n, 4) float64 xyxy."""
    cx, cy, a, h = (xyah[:, i] for i in range(4))
    w = a * h
    return np.column_stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


class KalmanFilter:
    """State (cx, cy, a, h, vcx, vcy, va, vh); measurement (cx, cy, a, h); dt = 1 frame.

    Every method takes and returns stacked arrays (n, 8) / (n, 8, 8) so one call serves all
    tracks of a frame.
    """

    def __init__(self, std_weight_position: float = STD_WEIGHT_POSITION,
                 std_weight_velocity: float = STD_WEIGHT_VELOCITY) -> None:
        self.std_weight_position = std_weight_position
        self.std_weight_velocity = std_weight_velocity

    def initiate(self, measurement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """New tracks from (n, 4) xyah measurements: zero velocity, height-scaled uncertainty."""
        z = np.asarray(measurement, np.float64).reshape(-1, 4)
        mean = np.hstack([z, np.zeros_like(z)])
        h = z[:, 3]
        wp, wv = self.std_weight_position, self.std_weight_velocity
        std = np.column_stack([2 * wp * h, 2 * wp * h, np.full_like(h, 1e-2), 2 * wp * h,
                               10 * wv * h, 10 * wv * h, np.full_like(h, 1e-5), 10 * wv * h])
        cov = np.zeros((len(z), 8, 8))
        idx = np.arange(8)
        cov[:, idx, idx] = std**2
        return mean, cov

    def predict(self, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return kalman_predict(mean, cov, self.std_weight_position, self.std_weight_velocity)

    def update(self, mean: np.ndarray, cov: np.ndarray, measurement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return kalman_update(mean, cov, np.asarray(measurement, np.float64), self.std_weight_position)
