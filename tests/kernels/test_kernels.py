"""Every kernel against its NumPy reference in naive.py, over shapes, dtypes, empty input and NaN.

Run once with NUMBA_DISABLE_JIT=1 too: the kernel bodies then run as Python and count for
coverage.
"""

from __future__ import annotations


import numpy as np
import pytest

from vstream import kernels
import naive_kernels as naive  # tests/ is on pythonpath (pyproject)


RNG = np.random.default_rng(7)

FRAME_SHAPES = [(1, 1, 1), (1, 5, 7), (3, 9, 16), (2, 36, 64), (4, 27, 48)]


def _frames(n: int, h: int, w: int) -> np.ndarray:
    # Smooth gradients plus noise, so both flat areas and edges occur.
    base = RNG.integers(0, 256, (n, h, w, 3))
    ramp = np.linspace(0, 255, w)[None, None, :, None]
    return ((base + ramp) / 2).astype(np.uint8)


# ---------------------------------------------------------------- frame_features


@pytest.mark.parametrize("shape", FRAME_SHAPES)
@pytest.mark.parametrize("bins,threshold", [(16, 48), (2, 0), (32, 200), (256, 1021)])
def test_frame_features_matches_naive(shape, bins, threshold):
    frames = _frames(*shape)
    got = kernels.frame_features(frames, bins, threshold)
    hist, mean, std, luma, edges = naive.frame_features(frames, bins, threshold)
    np.testing.assert_allclose(got.hist, hist, rtol=1e-6)
    np.testing.assert_allclose(got.hist.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(got.luma_mean, mean, rtol=1e-12)
    np.testing.assert_allclose(got.luma_std, std, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(got.luma, luma)
    np.testing.assert_array_equal(got.edges, edges)


def test_frame_features_extremes():
    frames = np.zeros((2, 4, 6, 3), np.uint8)
    frames[1] = 255
    got = kernels.frame_features(frames)
    hist, mean, std, luma, edges = naive.frame_features(frames)
    np.testing.assert_allclose(got.hist, hist, rtol=1e-6)
    np.testing.assert_array_equal(got.luma_mean, [0.0, 255.0])
    np.testing.assert_array_equal(got.luma_std, [0.0, 0.0])
    assert not got.edges.any()


def test_frame_features_empty():
    got = kernels.frame_features(np.zeros((0, 36, 64, 3), np.uint8), bins=8)
    assert got.hist.shape == (0, 24)
    assert got.luma.shape == (0, 36, 64) and got.edges.shape == (0, 36, 64)
    assert got.luma_mean.shape == (0,) and got.luma_std.shape == (0,)


@pytest.mark.parametrize(
    "frames,kwargs",
    [
        (np.zeros((1, 4, 4, 3), np.float32), {}),
        (np.zeros((1, 4, 4, 3), np.uint16), {}),
        (np.zeros((4, 4, 3), np.uint8), {}),
        (np.zeros((1, 4, 4, 4), np.uint8), {}),
        (np.zeros((1, 0, 4, 3), np.uint8), {}),
        (np.zeros((1, 4, 4, 3), np.uint8), {"bins": 1}),
        (np.zeros((1, 4, 4, 3), np.uint8), {"bins": 300}),
        (np.zeros((1, 4, 4, 3), np.uint8), {"edge_threshold": -1}),
        ([[[[0, 0, 0]]]], {}),
    ],
)
def test_frame_features_rejects(frames, kwargs):
    with pytest.raises(ValueError):
        kernels.frame_features(frames, **kwargs)


def test_frame_features_accepts_non_contiguous():
    frames = _frames(2, 9, 16)[:, ::2, ::-1]
    got = kernels.frame_features(frames)
    np.testing.assert_array_equal(got.edges, naive.frame_features(frames)[4])


# ---------------------------------------------------------------- histogram_distance


def _hists(n: int, m: int, dtype) -> np.ndarray:
    h = RNG.random((n, m)) * (RNG.random((n, m)) > 0.3)
    h /= np.maximum(h.sum(axis=1, keepdims=True), 1e-12)
    return h.astype(dtype)


@pytest.mark.parametrize("n,m", [(1, 1), (1, 48), (7, 5), (64, 96)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_histogram_distance_matches_naive(n, m, dtype):
    a, b = _hists(n, m, dtype), _hists(n, m, dtype)
    got = kernels.histogram_distance(a, b)
    assert got.dtype == np.float64 and got.shape == (n,)
    np.testing.assert_allclose(got, naive.histogram_distance(a, b), rtol=1e-6, atol=1e-12)
    assert np.all((got >= 0) & (got <= 1 + 1e-6))


def test_histogram_distance_bounds():
    a = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 0.0]])
    b = np.array([[0.0, 1.0], [0.5, 0.5], [0.0, 0.0]])
    np.testing.assert_array_equal(kernels.histogram_distance(a, b), [1.0, 0.0, 0.0])


def test_histogram_distance_nan_propagates():
    a, b = _hists(3, 8, np.float64), _hists(3, 8, np.float64)
    a[1, 2] = np.nan
    got = kernels.histogram_distance(a, b)
    assert np.isnan(got[1]) and not np.isnan(got[[0, 2]]).any()


def test_histogram_distance_empty():
    assert kernels.histogram_distance(np.zeros((0, 4)), np.zeros((0, 4))).shape == (0,)


@pytest.mark.parametrize(
    "a,b",
    [
        (np.zeros((2, 4), np.int64), np.zeros((2, 4), np.int64)),
        (np.zeros((2, 4)), np.zeros((2, 5))),
        (np.zeros(4), np.zeros(4)),
        (np.zeros((2, 4)), np.zeros((2, 4), np.float16)),
    ],
)
def test_histogram_distance_rejects(a, b):
    with pytest.raises(ValueError):
        kernels.histogram_distance(a, b)


# ---------------------------------------------------------------- edge_change_ratio


@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 5, 7), (3, 9, 16), (2, 36, 64)])
@pytest.mark.parametrize("radius", [0, 1, 2])
@pytest.mark.parametrize("density", [0.0, 0.05, 0.3])
def test_edge_change_ratio_matches_naive(shape, radius, density):
    a = (RNG.random(shape) < density).astype(np.uint8)
    b = (RNG.random(shape) < 0.2).astype(np.uint8)
    got = kernels.edge_change_ratio(a, b, radius)
    np.testing.assert_allclose(got, naive.edge_change_ratio(a, b, radius), rtol=1e-12)
    np.testing.assert_allclose(kernels.edge_change_ratio(a, a, radius), 0.0)


def test_edge_change_ratio_cases():
    z = np.zeros((1, 4, 4), np.uint8)
    one = z.copy()
    one[0, 1, 1] = 1
    shifted = z.copy()
    shifted[0, 2, 2] = 1
    assert kernels.edge_change_ratio(z, z)[0] == 0.0  # two blank frames: no change
    assert kernels.edge_change_ratio(z, one)[0] == 1.0  # edges from nowhere: total change
    assert kernels.edge_change_ratio(one, shifted, radius=1)[0] == 0.0  # within reach
    assert kernels.edge_change_ratio(one, shifted, radius=0)[0] == 1.0
    assert kernels.edge_change_ratio(one.astype(bool), shifted.astype(bool))[0] == 0.0


def test_edge_change_ratio_empty():
    assert kernels.edge_change_ratio(np.zeros((0, 3, 3), np.uint8), np.zeros((0, 3, 3), np.uint8)).shape == (0,)


@pytest.mark.parametrize(
    "a,b,radius",
    [
        (np.zeros((1, 3, 3), np.float32), np.zeros((1, 3, 3), np.float32), 1),
        (np.zeros((1, 3, 3), np.uint8), np.zeros((1, 3, 4), np.uint8), 1),
        (np.zeros((3, 3), np.uint8), np.zeros((3, 3), np.uint8), 1),
        (np.zeros((1, 3, 3), np.uint8), np.zeros((1, 3, 3), np.uint8), -1),
    ],
)
def test_edge_change_ratio_rejects(a, b, radius):
    with pytest.raises(ValueError):
        kernels.edge_change_ratio(a, b, radius)


# ---------------------------------------------------------------- mean_abs_difference


@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 5, 7), (5, 36, 64)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mean_abs_difference_matches_naive(shape, dtype):
    a = (RNG.random(shape) * 255).astype(dtype)
    b = (RNG.random(shape) * 255).astype(dtype)
    np.testing.assert_allclose(
        kernels.mean_abs_difference(a, b), naive.mean_abs_difference(a, b), rtol=1e-9
    )


def test_mean_abs_difference_nan_and_empty():
    a = np.zeros((2, 3, 3))
    b = np.ones((2, 3, 3))
    a[0, 1, 1] = np.nan
    got = kernels.mean_abs_difference(a, b)
    assert np.isnan(got[0]) and got[1] == 1.0
    assert kernels.mean_abs_difference(np.zeros((0, 3, 3)), np.zeros((0, 3, 3))).shape == (0,)


@pytest.mark.parametrize(
    "a,b",
    [
        (np.zeros((1, 3, 3), np.uint8), np.zeros((1, 3, 3), np.uint8)),
        (np.zeros((1, 3, 3)), np.zeros((1, 3, 2))),
        (np.zeros((3, 3)), np.zeros((3, 3))),
        (np.zeros((1, 0, 3)), np.zeros((1, 0, 3))),
    ],
)
def test_mean_abs_difference_rejects(a, b):
    with pytest.raises(ValueError):
        kernels.mean_abs_difference(a, b)


# ---------------------------------------------------------------- rolling_median_mad


@pytest.mark.parametrize("n", [1, 2, 7, 100])
@pytest.mark.parametrize("window,min_count", [(1, 1), (4, 1), (25, 3), (25, 25)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rolling_median_mad_matches_naive(n, window, min_count, dtype):
    x = RNG.random(n).astype(dtype)
    med, mad = kernels.rolling_median_mad(x, window, min_count)
    rmed, rmad = naive.rolling_median_mad(x, window, min_count)
    np.testing.assert_allclose(med, rmed, rtol=1e-12)
    np.testing.assert_allclose(mad, rmad, rtol=1e-12)
    assert np.isnan(med[0])  # nothing before the first value


def test_rolling_median_mad_skips_nan():
    x = np.array([1.0, np.nan, 3.0, np.nan, 5.0, 7.0])
    med, mad = kernels.rolling_median_mad(x, 3)
    rmed, rmad = naive.rolling_median_mad(x, 3)
    np.testing.assert_allclose(med, rmed)
    np.testing.assert_allclose(mad, rmad)
    assert med[2] == 1.0 and med[4] == 3.0


def test_rolling_median_mad_empty():
    med, mad = kernels.rolling_median_mad(np.zeros(0), 5)
    assert med.shape == mad.shape == (0,)


@pytest.mark.parametrize(
    "x,window,min_count",
    [
        (np.zeros(3, np.int64), 2, 1),
        (np.zeros((3, 1)), 2, 1),
        (np.zeros(3), 0, 1),
        (np.zeros(3), 2, 3),
        (np.zeros(3), 2, 0),
    ],
)
def test_rolling_median_mad_rejects(x, window, min_count):
    with pytest.raises(ValueError):
        kernels.rolling_median_mad(x, window, min_count)


# ---------------------------------------------------------------- blend_fit


@pytest.mark.parametrize("shape", [(2, 1, 1), (5, 4, 7), (20, 36, 64)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blend_fit_matches_naive(shape, dtype):
    planes = (RNG.random(shape) * 255).astype(dtype)
    alpha, resid = kernels.blend_fit(planes)
    ralpha, rresid = naive.blend_fit(planes)
    np.testing.assert_allclose(alpha, ralpha, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(resid, rresid, rtol=1e-9, atol=1e-12)


def test_blend_fit_recovers_a_dissolve():
    a, b = RNG.random((9, 16)) * 255, RNG.random((9, 16)) * 255
    w = np.linspace(0, 1, 11)
    planes = (1 - w)[:, None, None] * a + w[:, None, None] * b
    alpha, resid = kernels.blend_fit(planes)
    np.testing.assert_allclose(alpha, w, atol=1e-9)
    np.testing.assert_allclose(resid, 0, atol=1e-9)


def test_blend_fit_nan():
    same = np.ones((4, 3, 3))
    alpha, resid = kernels.blend_fit(same)  # identical ends: nothing to fit
    assert np.isnan(alpha).all() and np.isnan(resid).all()
    planes = RNG.random((4, 3, 3))
    planes[0, 0, 0] = np.nan
    alpha, resid = kernels.blend_fit(planes)
    assert np.isnan(alpha).all() and np.isnan(resid).all()


@pytest.mark.parametrize(
    "planes",
    [
        np.zeros((1, 3, 3)),
        np.zeros((0, 3, 3)),
        np.zeros((3, 3)),
        np.zeros((3, 3, 3), np.uint8),
        np.zeros((3, 0, 3)),
    ],
)
def test_blend_fit_rejects(planes):
    with pytest.raises(ValueError):
        kernels.blend_fit(planes)


def test_picture_change_is_the_mean_of_histogram_distance_and_scaled_luma_difference() -> None:
    from vstream.kernels import (TOTAL_LUMA_CHANGE, frame_features, histogram_distance,
                                 mean_abs_difference, picture_change)

    rng = np.random.default_rng(7)
    frames = rng.integers(0, 256, (6, 27, 48, 3), dtype=np.uint8)
    f = frame_features(frames)
    a, b = slice(1, 6), slice(0, 5)
    expected = 0.5 * (histogram_distance(f.hist[a], f.hist[b]) + np.minimum(
        mean_abs_difference(f.luma[a], f.luma[b]) / TOTAL_LUMA_CHANGE, 1.0))
    np.testing.assert_array_equal(picture_change(f.hist[a], f.hist[b], f.luma[a], f.luma[b]), expected)
    assert picture_change(f.hist[:1], f.hist[:1], f.luma[:1], f.luma[:1])[0] == 0.0
    black, white = frame_features(np.zeros((1, 4, 4, 3), np.uint8)), frame_features(
        np.full((1, 4, 4, 3), 255, np.uint8))
    assert picture_change(black.hist, white.hist, black.luma, white.luma)[0] > 0.5


# ---------------------------------------------------------------- guided_filter


@pytest.mark.parametrize("shape,radius,eps", [((9, 13), 2, 1e-3), ((12, 7), 3, 1e-4), ((5, 6), 0, 1e-2),
                                              ((4, 4), 9, 1e-3)])
def test_guided_filter_matches_naive(shape, radius, eps):
    guide = RNG.random(shape + (3,), dtype=np.float32)
    src = RNG.random(shape, dtype=np.float32)
    got = kernels.guided_filter(guide, src, radius, eps)
    assert got.dtype == np.float32 and got.shape == shape
    np.testing.assert_allclose(got, naive.guided_filter(guide, src, radius, eps), rtol=1e-4, atol=1e-5)


def test_guided_filter_snaps_a_blurred_step_to_the_guide_edge():
    # a coarse map (a blurred step at column 10) over a guide with its edge at column 12: the
    # filtered map steps where the guide does, which is what sharpens an upsampled mask
    guide = np.zeros((20, 24, 3), np.float32)
    guide[:, 12:] = 1.0
    src = np.clip((np.arange(24, dtype=np.float32) - 6) / 8, 0, 1)[None].repeat(20, 0)
    out = kernels.guided_filter(guide, src, 4, 1e-4)
    assert out[:, 11].max() < 0.5 and out[:, 12].min() > 0.85
    assert (src[:, 10:12] >= 0.5).all()  # the input was past its half-way mark two pixels early


def test_guided_filter_flat_guide_is_a_box_mean():
    src = RNG.random((8, 8), dtype=np.float32)
    out = kernels.guided_filter(np.full((8, 8, 3), 0.5, np.float32), src, 1, 1e-2)
    # no colour to follow: each window's fit is its mean, and a pixel averages its windows' means
    window_means = [src[y - 1:y + 2, x - 1:x + 2].mean() for y in (3, 4, 5) for x in (3, 4, 5)]
    np.testing.assert_allclose(out[4, 4], np.mean(window_means), rtol=1e-5)
    np.testing.assert_allclose(out, naive.guided_filter(np.full((8, 8, 3), 0.5, np.float32), src, 1, 1e-2),
                               rtol=1e-5, atol=1e-6)


def test_guided_filter_empty():
    assert kernels.guided_filter(np.zeros((0, 5, 3), np.float32), np.zeros((0, 5), np.float32), 2, 1e-3).shape == (0, 5)


@pytest.mark.parametrize(
    "guide,src,radius,eps",
    [
        (np.zeros((4, 4, 3)), np.zeros((4, 4), np.float32), 1, 1e-3),  # float64 guide
        (np.zeros((4, 4, 3), np.float32), np.zeros((4, 5), np.float32), 1, 1e-3),
        (np.zeros((4, 4), np.float32), np.zeros((4, 4), np.float32), 1, 1e-3),
        (np.zeros((4, 4, 3), np.float32), np.zeros((4, 4), np.float32), -1, 1e-3),
        (np.zeros((4, 4, 3), np.float32), np.zeros((4, 4), np.float32), 1, 0.0),
    ],
)
def test_guided_filter_rejects(guide, src, radius, eps):
    with pytest.raises(ValueError):
        kernels.guided_filter(guide, src, radius, eps)
