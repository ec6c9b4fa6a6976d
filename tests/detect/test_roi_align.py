"""RoIAlign (grid_sample based) against a slow NumPy bilinear reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vstream.detect.roi_align import roi_align


def _bilinear(fmap: np.ndarray, y: float, x: float) -> np.ndarray:
    """(C, H, W) at (y, x), coordinates clamped to the map (border padding)."""
    _, h, w = fmap.shape
    y = min(max(y, 0.0), h - 1.0)
    x = min(max(x, 0.0), w - 1.0)
    y0, x0 = int(np.floor(y)), int(np.floor(x))
    y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
    ly, lx = y - y0, x - x0
    return ((1 - ly) * (1 - lx) * fmap[:, y0, x0] + (1 - ly) * lx * fmap[:, y0, x1]
            + ly * (1 - lx) * fmap[:, y1, x0] + ly * lx * fmap[:, y1, x1])


def _roi_align_reference(features: np.ndarray, rois: np.ndarray, out: int, scale: float,
                         ratio: int) -> np.ndarray:
    k = len(rois)
    result = np.zeros((k, features.shape[1], out, out))
    for r in range(k):
        b, x1, y1, x2, y2 = rois[r]
        x1, y1, x2, y2 = x1 * scale - 0.5, y1 * scale - 0.5, x2 * scale - 0.5, y2 * scale - 0.5
        bw, bh = (x2 - x1) / out, (y2 - y1) / out
        for i in range(out):
            for j in range(out):
                acc = 0.0
                for si in range(ratio):
                    for sj in range(ratio):
                        y = y1 + (i + (si + 0.5) / ratio) * bh
                        x = x1 + (j + (sj + 0.5) / ratio) * bw
                        acc = acc + _bilinear(features[int(b)], y, x)
                result[r, :, i, j] = acc / ratio**2
    return result


@pytest.mark.parametrize("out, ratio", [(4, 2), (3, 1), (2, 3)])
def test_matches_numpy_reference(out: int, ratio: int) -> None:
    rng = np.random.default_rng(out * 10 + ratio)
    features = rng.normal(size=(3, 5, 12, 20)).astype(np.float32)
    rois = np.array([
        [0, 10.0, 12.0, 50.0, 40.0],
        [2, 0.0, 0.0, 160.0, 96.0],  # the whole image
        [1, 33.3, 7.7, 41.9, 19.1],  # smaller than a cell
        [2, 150.0, 80.0, 170.0, 100.0],  # hangs over the border
    ], np.float32)
    got = roi_align(torch.from_numpy(features), torch.from_numpy(rois), out, 1 / 8, ratio)
    want = _roi_align_reference(features, rois, out, 1 / 8, ratio)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-5)


def test_constant_map_and_empty_rois() -> None:
    features = torch.full((1, 2, 6, 6), 3.0)
    got = roi_align(features, torch.tensor([[0, 5.0, 5.0, 30.0, 20.0]]), 4, 1 / 8)
    torch.testing.assert_close(got, torch.full((1, 2, 4, 4), 3.0))
    assert roi_align(features, torch.zeros((0, 5)), 4, 1 / 8).shape == (0, 2, 4, 4)


def test_gradient_reaches_features() -> None:
    features = torch.randn(1, 2, 6, 6, requires_grad=True)
    roi_align(features, torch.tensor([[0, 5.0, 5.0, 30.0, 20.0]]), 2, 1 / 8).sum().backward()
    assert features.grad is not None and features.grad.abs().sum() > 0


def test_rejects_bad_rois() -> None:
    with pytest.raises(ValueError, match="rois must be"):
        roi_align(torch.zeros(1, 2, 6, 6), torch.zeros(3, 4), 2, 1 / 8)
