"""Detections: construction checks, empty, merge, indexing, area, with_tracker_id."""

from __future__ import annotations

import numpy as np
import pytest

from vstream.detections import Detections


def _dets(n: int = 3, emb: int | None = None) -> Detections:
    xyxy = np.arange(n * 4, dtype=np.float64).reshape(n, 4) + [0, 0, 10, 20]
    return Detections(xyxy, np.linspace(0.1, 0.9, n), np.arange(n), embedding=None if emb is None else np.ones((n, emb)),
                      data={"gt": np.arange(n) * 10}, metadata={"frame": 7})


def test_defaults_and_dtypes():
    d = _dets()
    assert d.xyxy.dtype == np.float32 and d.confidence.dtype == np.float32
    assert d.class_id.dtype == np.int32 and d.tracker_id.dtype == np.int64
    np.testing.assert_array_equal(d.tracker_id, [-1, -1, -1])
    plain = Detections(np.zeros((2, 4), np.float32))
    np.testing.assert_array_equal(plain.confidence, [1, 1])
    np.testing.assert_array_equal(plain.class_id, [0, 0])
    assert plain.embedding is None and plain.data == {} and plain.metadata == {}


@pytest.mark.parametrize(
    "kwargs,error",
    [
        ({"xyxy": np.zeros((2, 3))}, r"xyxy must be \(n, 4\) float32 .* got shape \(2, 3\)"),
        ({"xyxy": np.zeros(4)}, "xyxy must be"),
        ({"xyxy": np.array([["a"] * 4])}, "xyxy must be"),
        ({"xyxy": np.zeros((2, 4)), "confidence": np.ones(3)}, r"confidence must be \(n,\) float32 \(n = 2\)"),
        ({"xyxy": np.zeros((2, 4)), "class_id": np.ones(2)}, "class_id must be .* int32 .* float64"),
        ({"xyxy": np.zeros((2, 4)), "tracker_id": np.ones((2, 1), int)}, "tracker_id must be"),
        ({"xyxy": np.zeros((2, 4)), "embedding": np.ones(2)}, r"embedding must be \(n, d\)"),
        ({"xyxy": np.zeros((2, 4)), "embedding": np.ones((3, 8))}, "embedding must be"),
        ({"xyxy": np.zeros((2, 4)), "data": {"x": np.ones(3)}}, r"data\['x'\] must have one row"),
    ],
)
def test_construction_rejects(kwargs, error):
    with pytest.raises(ValueError, match=error):
        Detections(**kwargs)


def test_empty_and_len():
    assert len(Detections.empty()) == 0
    assert Detections.empty(16).embedding.shape == (0, 16)


@pytest.mark.parametrize(
    "index,rows",
    [
        (np.array([True, False, True]), [0, 2]),
        (np.array([2, 0]), [2, 0]),
        (slice(1, None), [1, 2]),
        (1, [1]),
        (-1, [2]),
        (np.array([], np.int64), []),
        ([], []),
    ],
)
def test_indexing(index, rows):
    d = _dets(emb=4)
    got = d[index]
    assert isinstance(got, Detections) and len(got) == len(rows)
    np.testing.assert_array_equal(got.xyxy, d.xyxy[rows])
    np.testing.assert_array_equal(got.data["gt"], np.array(rows, int) * 10)
    assert got.embedding.shape == (len(rows), 4) and got.metadata == {"frame": 7}


def test_indexing_rejects_bad_mask_and_reads_columns():
    d = _dets()
    with pytest.raises(ValueError, match="boolean mask"):
        d[np.array([True, False])]
    with pytest.raises(ValueError, match="index must be"):
        d[np.array([0.5])]
    np.testing.assert_array_equal(d["gt"], [0, 10, 20])


def test_merge():
    a, b = _dets(2), _dets(3)
    m = Detections.merge([a, Detections.empty(), b])
    assert len(m) == 5
    np.testing.assert_array_equal(m.data["gt"], [0, 10, 0, 10, 20])
    assert len(Detections.merge([])) == 0
    with pytest.raises(ValueError, match="embeddings"):
        Detections.merge([_dets(2, emb=4), _dets(2)])
    with pytest.raises(ValueError, match="data columns"):
        Detections.merge([a, Detections(np.zeros((1, 4)))])


def test_area_and_with_tracker_id():
    d = Detections(np.array([[0, 0, 10, 20], [5, 5, 4, 9]], np.float32))
    np.testing.assert_array_equal(d.area, [200, 0])
    t = d.with_tracker_id(np.array([3, 4]))
    np.testing.assert_array_equal(t.tracker_id, [3, 4])
    np.testing.assert_array_equal(d.tracker_id, [-1, -1])
    with pytest.raises(ValueError, match="tracker_id"):
        d.with_tracker_id(np.array([1]))
