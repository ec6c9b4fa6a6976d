"""`teachers.tflite` operators against NumPy transcriptions of their TFLite / MediaPipe kernels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vstream.detect.teachers.tflite import _transpose_conv_bias


def _mediapipe_transpose_conv_bias(x: np.ndarray, w_ohwi: np.ndarray, bias: np.ndarray,
                                   stride: int, same: bool) -> np.ndarray:
    """MediaPipe's `transpose_conv_bias.cc` loop on one NHWC image (H, W, I), weights OHWI."""
    h, w, _ = x.shape
    out_c, k, _, _ = w_ohwi.shape
    pad_h = max(0, k - (h - 1) % stride - 1) if same else 0
    pad_w = max(0, k - (w - 1) % stride - 1) if same else 0
    out_h, out_w = stride * (h - 1) + k - pad_h, stride * (w - 1) + k - pad_w
    out = np.tile(bias, (out_h, out_w, 1)).astype(np.float64)
    for iy in range(h):
        for ix in range(w):
            for fy in range(k):
                for fx in range(k):
                    oy, ox = iy * stride - pad_h // 2 + fy, ix * stride - pad_w // 2 + fx
                    if 0 <= oy < out_h and 0 <= ox < out_w:
                        out[oy, ox] += w_ohwi[:, fy, fx, :] @ x[iy, ix]
    return out


@pytest.mark.parametrize("size", [(4, 5), (7, 6)])
@pytest.mark.parametrize("kernel,stride", [(2, 2), (3, 2), (4, 2)])
@pytest.mark.parametrize("same", [True, False])
def test_transpose_conv_bias_is_mediapipes(size: tuple[int, int], kernel: int, stride: int,
                                           same: bool) -> None:
    rng = np.random.default_rng(kernel * 10 + size[0])
    x = rng.normal(size=(*size, 3))
    w = rng.normal(size=(2, kernel, kernel, 3))  # OHWI, as the file stores it
    b = rng.normal(size=2)
    want = _mediapipe_transpose_conv_bias(x, w, b, stride, same)
    got = _transpose_conv_bias(torch.from_numpy(x).permute(2, 0, 1)[None],
                               torch.from_numpy(w).permute(3, 0, 1, 2), torch.from_numpy(b),
                               {"same": same, "stride_h": stride, "stride_w": stride})
    np.testing.assert_allclose(got[0].permute(1, 2, 0).numpy(), want, atol=1e-9)
