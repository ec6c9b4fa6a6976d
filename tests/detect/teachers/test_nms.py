"""NMS of the teachers against a plain-loop reference (MTCNN's `nms_numpy` logic, per box)."""

from __future__ import annotations

import numpy as np
import pytest

from vstream.detect.teachers.nms import batched_nms, nms


def naive_nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str) -> list[int]:
    """Greedy NMS one pair at a time: visit boxes by decreasing score (ties by index), keep a box
    unless it overlaps a kept one by more than `threshold`."""
    one = 1.0 if mode == "min" else 0.0
    order = sorted(range(len(boxes)), key=lambda i: (-scores[i], i))
    keep: list[int] = []
    for i in order:
        ok = True
        for j in keep:
            a, b = boxes[i], boxes[j]
            iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]) + one)
            ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]) + one)
            area_a = (a[2] - a[0] + one) * (a[3] - a[1] + one)
            area_b = (b[2] - b[0] + one) * (b[3] - b[1] + one)
            inter = iw * ih
            overlap = inter / min(area_a, area_b) if mode == "min" else inter / (area_a + area_b - inter)
            if overlap > threshold:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


def random_boxes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, (n, 2))
    wh = rng.uniform(5, 40, (n, 2))
    # rounded scores make ties, which both implementations must break by index
    return np.concatenate([xy, xy + wh], 1).astype(np.float32), rng.uniform(0, 1, n).round(1).astype(np.float32)


@pytest.mark.parametrize("mode", ["union", "min"])
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
@pytest.mark.parametrize("n, seed", [(0, 0), (1, 1), (5, 2), (60, 3), (200, 4)])
def test_nms_matches_reference(mode: str, threshold: float, n: int, seed: int) -> None:
    boxes, scores = random_boxes(n, seed)
    keep = nms(boxes, scores, threshold, mode)  # type: ignore[arg-type]
    assert keep.dtype == np.int64
    assert keep.tolist() == naive_nms(boxes.astype(np.float64), scores.astype(np.float64), threshold, mode)


def test_nms_modes_differ_on_nested_boxes() -> None:
    # a small box inside a big one: IoU 0.04, intersection over the smaller box 1
    boxes = np.array([[0, 0, 50, 50], [10, 10, 20, 20]], np.float32)
    scores = np.array([0.9, 0.8], np.float32)
    assert nms(boxes, scores, 0.7, "union").tolist() == [0, 1]
    assert nms(boxes, scores, 0.7, "min").tolist() == [0]


def test_batched_nms_keeps_groups_apart() -> None:
    boxes, scores = random_boxes(80, 7)
    groups = np.arange(80) % 3
    keep = batched_nms(boxes, scores, groups, 0.5)
    expected = []
    for g in range(3):
        rows = np.flatnonzero(groups == g)
        expected += rows[naive_nms(boxes[rows], scores[rows], 0.5, "union")].tolist()
    assert sorted(keep.tolist()) == sorted(expected)
    assert np.all(np.diff(scores[keep]) <= 0), "kept rows must be ordered by decreasing score"
    # identical boxes in two groups both survive
    same = np.array([[0, 0, 10, 10]] * 2, np.float32)
    assert sorted(batched_nms(same, np.array([0.5, 0.6]), np.array([0, 1]), 0.5).tolist()) == [0, 1]


@pytest.mark.parametrize(
    "boxes, scores, mode, message",
    [
        (np.zeros((3, 5)), np.zeros(3), "union", r"\(n, 4\)"),
        (np.zeros((3, 4)), np.zeros(2), "union", r"\(n, 4\)"),
        (np.zeros((3, 4)), np.zeros(3), "iou", "mode"),
    ],
)
def test_nms_rejects_bad_input(boxes: np.ndarray, scores: np.ndarray, mode: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        nms(boxes, scores, 0.5, mode)  # type: ignore[arg-type]
