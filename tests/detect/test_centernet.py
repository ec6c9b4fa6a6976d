"""CenterNet encoding: targets of known boxes, and decode of synthetic head outputs."""

from __future__ import annotations

import numpy as np

from vstream.detect.box_decode import decode_boxes, distinct_boxes
from vstream.detect.centernet import encode_targets


def test_encode_then_decode_gives_the_boxes_back() -> None:
    stride, grid = 8, (28, 48)
    boxes = np.array([[100.0, 40.0, 124.0, 70.0], [10.0, 100.0, 210.0, 220.0], [300, 10, 316, 26]],
                     np.float32)
    classes = np.array([1, 0, 1])
    t = encode_targets(boxes, classes, 2, grid, stride)
    assert t.heatmap.shape == (2, *grid) and t.heatmap.max() == 1.0
    assert (t.heatmap == 1.0).sum() == 3
    assert np.all((t.offset >= 0) & (t.offset < 1))
    # a perfect head: heatmap logits from the target, size/offset written at the centre cells
    logits = (np.log(t.heatmap + 1e-6) - np.log1p(-t.heatmap + 1e-6))[None].astype(np.float32)
    size = np.zeros((1, 2, *grid), np.float32)
    offset = np.zeros((1, 2, *grid), np.float32)
    for k, idx in enumerate(t.index):
        size[0, :, idx // grid[1], idx % grid[1]] = t.size[k]
        offset[0, :, idx // grid[1], idx % grid[1]] = t.offset[k]
    dec = decode_boxes(logits, size, offset, stride, (384, 224), 10)
    valid = dec.scores[0] >= 0.5
    assert int(valid.sum()) == 3
    got = dec.boxes[0][valid]
    got_classes = dec.classes[0][valid]
    order = np.lexsort((got[:, 0], got_classes))
    want_order = np.lexsort((boxes[:, 0], classes))
    np.testing.assert_allclose(got[order], boxes[want_order], atol=1e-3)
    np.testing.assert_array_equal(got_classes[order], classes[want_order])


def test_peak_test_keeps_one_box_per_blob_best_first_and_top_k() -> None:
    heat = np.full((1, 1, 10, 10), -10.0, np.float32)
    heat[0, 0, 2:5, 2:5] = 0.0  # a 3x3 blob, its centre highest
    heat[0, 0, 3, 3] = 2.0
    heat[0, 0, 8, 8] = 1.0  # a second, weaker peak
    heat[0, 0, 0, 9] = -0.5  # a third (p = 0.38)
    zeros = np.zeros((1, 2, 10, 10), np.float32)
    dec = decode_boxes(heat, zeros, zeros, 8, (80, 80), 5)
    np.testing.assert_allclose(dec.scores[0, :3], 1 / (1 + np.exp([-2.0, -1.0, 0.5])), rtol=1e-6)
    assert np.all(dec.scores[0, 3:] < 1e-4)  # the rest: the flat background, no blob cell
    centres = (dec.boxes[0, :2, :2] + dec.boxes[0, :2, 2:]) / 2
    np.testing.assert_allclose(centres, [[24.0, 24.0], [64.0, 64.0]])
    # size 0 in log cells = one cell wide
    np.testing.assert_allclose(dec.boxes[0, 0], [20.0, 20.0, 28.0, 28.0])
    assert decode_boxes(heat, zeros, zeros, 8, (80, 80), 1).boxes.shape == (1, 1, 4)


def test_decode_matches_a_max_pool_reference() -> None:
    """The NumPy decode against the torch one it replaced (max-pool peaks, topk)."""
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(0)
    logits = rng.normal(-2, 2, (3, 2, 28, 49)).astype(np.float32)
    log_size = rng.normal(1, 1, (3, 2, 28, 49)).astype(np.float32)
    offset = rng.random((3, 2, 28, 49)).astype(np.float32)
    dec = decode_boxes(logits, log_size, offset, 8, (392, 220), 50)
    heat = torch.from_numpy(logits).sigmoid()
    peaks = heat == F.max_pool2d(heat, 3, stride=1, padding=1)
    scores, flat = (heat * peaks).reshape(3, -1).topk(50, dim=1)
    np.testing.assert_allclose(dec.scores, scores.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(dec.classes, (flat // (28 * 49)).numpy())


def test_a_box_repeating_a_better_one_is_dropped_and_people_side_by_side_stay() -> None:
    boxes = np.array([
        [100, 20, 300, 220],   # a man in a close-up, best
        [120, 40, 290, 215],   # the same man at another size, nested (IoU 0.74)
        [90, 60, 250, 220],    # and again, shifted (IoU 0.58)
        [130, 40, 250, 170],   # his upper body: inside, 0.39 of his area (IoU 0.39)
        [300, 20, 380, 220],   # a second person beside him
        [200, 120, 230, 200],  # a far person seen inside his box: a tenth of its area
        [110, 30, 280, 210],   # a face class box where the persons are: another class
    ], np.float32)
    classes = np.array([0, 0, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(distinct_boxes(boxes, classes), [0, 4, 5, 6])
    assert distinct_boxes(boxes[:1], classes[:1]).tolist() == [0]
    assert distinct_boxes(np.zeros((0, 4), np.float32), np.zeros(0, np.int64)).tolist() == []
