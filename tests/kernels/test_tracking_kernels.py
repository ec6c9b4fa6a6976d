"""Tracking kernels (iou_matrix, kalman_predict, kalman_update) against their NumPy references
in naive.py, over shapes (incl. empty), dtypes, NaN."""

from __future__ import annotations


import numpy as np
import pytest

from vstream import kernels
import naive_kernels as naive  # tests/ is on pythonpath (pyproject)


RNG = np.random.default_rng(11)


def _boxes(n: int, dtype=np.float32) -> np.ndarray:
    xy = RNG.uniform(0, 100, (n, 2))
    wh = RNG.uniform(0, 40, (n, 2))
    return np.hstack([xy, xy + wh]).astype(dtype)


def _states(n: int) -> tuple[np.ndarray, np.ndarray]:
    mean = np.column_stack([RNG.uniform(0, 500, (n, 2)), RNG.uniform(0.3, 2, n), RNG.uniform(10, 200, n),
                            RNG.normal(0, 3, (n, 4))])
    a = RNG.normal(0, 1, (n, 8, 8))
    cov = a @ a.transpose(0, 2, 1) + 8 * np.eye(8)
    return mean, cov


# ---------------------------------------------------------------------------------- iou_matrix


@pytest.mark.parametrize("n,m", [(0, 0), (0, 3), (4, 0), (1, 1), (5, 7), (40, 33)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_iou_matrix_matches_naive(n, m, dtype):
    a, b = _boxes(n, dtype), _boxes(m, dtype)
    got = kernels.iou_matrix(a, b)
    assert got.shape == (n, m) and got.dtype == np.float32
    np.testing.assert_allclose(got, naive.iou_matrix(a, b), rtol=1e-6, atol=1e-7)


def test_iou_matrix_known_values():
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [5, 5, 5, 5]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [5, 5, 5, 5]], np.float32)
    got = kernels.iou_matrix(a, b)
    np.testing.assert_allclose(got[0], [1.0, 1 / 3, 0.0, 0.0], rtol=1e-6)
    np.testing.assert_array_equal(got[2], [0, 0, 0, 0])  # zero-area boxes overlap nothing
    np.testing.assert_array_equal(got, naive.iou_matrix(a, b))


def test_iou_matrix_nan_pairs_are_nan():
    a = _boxes(3)
    b = _boxes(4)
    a[1, 2] = np.nan
    b[3, 0] = np.nan
    got = kernels.iou_matrix(a, b)
    assert np.isnan(got[1]).all() and np.isnan(got[:, 3]).all()
    keep = np.ones(got.shape, bool)
    keep[1] = False
    keep[:, 3] = False
    assert np.isfinite(got[keep]).all()
    np.testing.assert_allclose(got, naive.iou_matrix(a, b), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "a,b,error",
    [
        (np.zeros((2, 4), np.int32), np.zeros((2, 4), np.float32), "dtype"),
        (np.zeros((2, 4), np.float32), np.zeros((2, 4), np.float16), "dtype"),
        ([[0, 0, 1, 1]], np.zeros((2, 4), np.float32), "numpy array"),
        (np.zeros((2, 5), np.float32), np.zeros((2, 4), np.float32), r"\(n, 4\)"),
        (np.zeros(4, np.float32), np.zeros((2, 4), np.float32), "2-D"),
    ],
)
def test_iou_matrix_rejects(a, b, error):
    with pytest.raises(ValueError, match=error):
        kernels.iou_matrix(a, b)


# ---------------------------------------------------------------------------------- kalman


@pytest.mark.parametrize("n", [0, 1, 2, 17])
@pytest.mark.parametrize("wp,wv", [(1 / 20, 1 / 160), (0.1, 0.01)])
def test_kalman_predict_matches_naive(n, wp, wv):
    mean, cov = _states(n)
    mean0, cov0 = mean.copy(), cov.copy()
    got_mean, got_cov = kernels.kalman_predict(mean, cov, wp, wv)
    want_mean, want_cov = naive.kalman_predict(mean, cov, wp, wv)
    assert got_mean.shape == (n, 8) and got_cov.shape == (n, 8, 8)
    np.testing.assert_allclose(got_mean, want_mean, rtol=1e-12)
    np.testing.assert_allclose(got_cov, want_cov, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(mean, mean0)  # inputs untouched
    np.testing.assert_array_equal(cov, cov0)


@pytest.mark.parametrize("n", [0, 1, 3, 25])
@pytest.mark.parametrize("wp", [1 / 20, 0.2])
def test_kalman_update_matches_naive(n, wp):
    mean, cov = _states(n)
    z = mean[:, :4] + RNG.normal(0, 2, (n, 4))
    got_mean, got_cov = kernels.kalman_update(mean, cov, z, wp)
    want_mean, want_cov = naive.kalman_update(mean, cov, z, wp)
    np.testing.assert_allclose(got_mean, want_mean, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got_cov, want_cov, rtol=1e-9, atol=1e-9)
    if n:
        # Symmetric, and the measured entries become more certain.
        np.testing.assert_allclose(got_cov, got_cov.transpose(0, 2, 1), atol=1e-9)
        assert (np.diagonal(got_cov, axis1=1, axis2=2)[:, :4] < np.diagonal(cov, axis1=1, axis2=2)[:, :4]).all()


def test_kalman_nan_stays_in_its_track():
    mean, cov = _states(3)
    z = mean[:, :4].copy()
    z[1, 0] = np.nan
    m, c = kernels.kalman_update(mean, cov, z)
    assert np.isnan(m[1]).all() and np.isfinite(c[1]).all()
    assert np.isfinite(m[[0, 2]]).all() and np.isfinite(c[[0, 2]]).all()
    mean[2, 3] = np.nan
    m, c = kernels.kalman_predict(mean, cov)
    assert np.isnan(m[2, 3]) and np.isnan(c[2]).any()
    assert np.isfinite(m[[0, 1]]).all() and np.isfinite(c[[0, 1]]).all()


@pytest.mark.parametrize(
    "call,error",
    [
        (lambda m, c: kernels.kalman_predict(m.astype(np.float32), c), "dtype float64"),
        (lambda m, c: kernels.kalman_predict(m, c.astype(np.float32)), "dtype float64"),
        (lambda m, c: kernels.kalman_predict(m[:, :4].copy(), c), r"\(n, 8\)"),
        (lambda m, c: kernels.kalman_predict(m, c[:1].copy()), r"\(n, 8, 8\)"),
        (lambda m, c: kernels.kalman_predict(m[0].copy(), c), "2-D"),
        (lambda m, c: kernels.kalman_update(m, c, m[:, :4].astype(np.float32)), "dtype float64"),
        (lambda m, c: kernels.kalman_update(m, c, m[:1, :4].copy()), "one row per track"),
    ],
)
def test_kalman_rejects(call, error):
    mean, cov = _states(2)
    with pytest.raises(ValueError, match=error):
        call(mean, cov)
