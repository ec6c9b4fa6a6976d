"""FeatureRing (the per-frame features and scores the content rules share) and ContentScan
(several threshold sets over one ring)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from vstream.decode.frames import FrameBatch
from vstream.kernels import edge_change_ratio, frame_features, histogram_distance, mean_abs_difference
from vstream.segment.content import ContentShotDetector
from vstream.segment.content_params import CANDIDATE_PARAMS, ContentParams
from vstream.segment.content_scan import ContentScan
from vstream.segment.feature_ring import FeatureRing
from vstream.weights import test_video_path
import transition_clips as clips  # tests/ is on pythonpath (pyproject)

TIME_BASE = Fraction(1, 12800)  # test.mp4's: 25 fps is 512 ticks a frame
SIZE = (48, 27)


@pytest.fixture(scope="module")
def footage() -> np.ndarray:
    images, _, _ = clips.decode_rgb(test_video_path(), SIZE)
    return images[300:700]


def _batch(images: np.ndarray, lo: int) -> FrameBatch:
    idx = np.arange(lo, lo + len(images), dtype=np.int64)
    return FrameBatch("s", images, idx, idx * 512, TIME_BASE)


def test_scores_match_the_whole_clip_computed_at_once(footage) -> None:
    """Appended in pieces, with rows moving to the front as the window slides, every frame's
    features and scores are those of the whole clip computed in one go."""
    span, keep = 7, 40
    feats = frame_features(footage, 16, 48)
    luma, n = feats.luma, len(footage)
    cut = (histogram_distance(feats.hist[1:], feats.hist[:-1])
           + edge_change_ratio(feats.edges[1:], feats.edges[:-1])
           + np.minimum(mean_abs_difference(luma[1:], luma[:-1]) / 64.0, 1.0)) / 3.0
    far = 0.5 * (histogram_distance(feats.hist[span:], feats.hist[:-span])
                 + np.minimum(mean_abs_difference(luma[span:], luma[:-span]) / 64.0, 1.0))
    ring = FeatureRing(SIZE, span=span, keep=keep)
    moved = False
    for lo, hi in zip(range(0, n, 33), [*range(33, n, 33), n]):
        ring.append(ring.features(_batch(footage[lo:hi], lo)), np.arange(lo, hi), 0, hi - lo)
        moved |= ring.base > 0
        rows = ring.rows(max(ring.base, ring.n - keep), ring.n)
        frames = np.arange(ring.n)[-(rows.stop - rows.start):]
        np.testing.assert_array_equal(ring.luma_mean[rows], feats.luma_mean[frames])
        np.testing.assert_array_equal(ring.cut_score[rows], np.r_[np.nan, cut][frames])
        np.testing.assert_array_equal(ring.long_distance[rows], np.r_[np.full(span, np.nan), far][frames])
    assert moved and ring.n == n and ring.offset == 0


def test_state_puts_the_last_keep_rows_back_and_continues_alike(footage) -> None:
    ring = FeatureRing(SIZE, span=7, keep=40)
    for lo in range(0, 150, 30):
        ring.append(ring.features(_batch(footage[lo : lo + 30], lo)), np.arange(lo, lo + 30), 0, 30)
    state = ring.state()
    # only what can still be read: the ring itself holds up to 3 * keep rows
    assert ring.n - ring.base > 40 and all(len(rows) == 40 for rows in state["columns"].values())
    again = FeatureRing(SIZE, span=7, keep=40)
    again.load_state(state)
    assert (again.n, again.base, again.offset) == (ring.n, ring.n - 40, ring.offset)
    for a in (ring, again):  # the next frames score the same against the rows put back
        a.append(a.features(_batch(footage[150:180], 150)), np.arange(150, 180), 0, 30)
    for name in FeatureRing.COLUMNS:
        np.testing.assert_array_equal(getattr(again, name)[again.rows(140, 180)],
                                      getattr(ring, name)[ring.rows(140, 180)])


def test_ring_errors() -> None:
    with pytest.raises(ValueError, match="span"):
        FeatureRing(SIZE, span=10, keep=5)


def test_the_cut_score_peaks_at_a_cut(footage) -> None:
    clip = np.concatenate([footage[:60], footage[200:260]])
    ring = FeatureRing(SIZE, span=25, keep=200)
    ring.append(ring.features(_batch(clip, 0)), np.arange(120), 0, 120)
    assert int(np.nanargmax(ring.cut_score[ring.rows(0, 120)])) == 60


def test_one_ring_for_two_threshold_sets_answers_as_two_detectors() -> None:
    """The combined detector's strict and sensitive passes read one ring: what each finds is
    what a detector of its own would find, in any batching."""
    images, _, _ = clips.decode_rgb(test_video_path(), SIZE)
    clip = images[:1500]
    scan = ContentScan(SIZE, [ContentParams(), CANDIDATE_PARAMS])
    strict, sensitive = ContentShotDetector(SIZE), ContentShotDetector(SIZE, sensitivity="candidates")
    shared: list[list] = [[], []]
    alone: list[list] = [[], []]
    lo, sizes = 0, [1, 90, 7, 250]
    for k in range(10_000):
        if lo >= len(clip):
            break
        b = _batch(clip[lo : lo + sizes[k % 4]], lo)
        for got, out in zip(scan.push(b), shared):
            out += got
        alone[0] += strict.push(b)
        alone[1] += sensitive.push(b)
        assert scan.settled_until() == [strict.settled_until(), sensitive.settled_until()]
        lo += len(b)
    for got, out in zip(scan.flush(), shared):
        out += got
    alone[0] += strict.flush()
    alone[1] += sensitive.flush()
    assert shared == alone
    assert len(alone[1]) > len(alone[0]) > 20


def test_threshold_sets_sharing_a_ring_must_agree_on_its_span() -> None:
    with pytest.raises(ValueError, match="gradual_span_s"):
        ContentScan(SIZE, [ContentParams(), ContentParams(gradual_span_s=2.0)])
    with pytest.raises(ValueError):
        ContentScan(SIZE, [])
