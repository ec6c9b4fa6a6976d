"""CenterNet encoding: targets of known boxes, and decode of synthetic head outputs."""

from __future__ import annotations

import numpy as np
import torch

from vstream.detect.centernet import decode_boxes, encode_targets


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
    logits = torch.from_numpy(np.log(t.heatmap + 1e-6) - np.log1p(-t.heatmap + 1e-6))[None]
    size = torch.zeros(1, 2, *grid)
    offset = torch.zeros(1, 2, *grid)
    for k, idx in enumerate(t.index):
        size[0, :, idx // grid[1], idx % grid[1]] = torch.from_numpy(t.size[k])
        offset[0, :, idx // grid[1], idx % grid[1]] = torch.from_numpy(t.offset[k])
    dec = decode_boxes(logits, size, offset, stride, (384, 224), 0.5, 10)
    assert int(dec.valid.sum()) == 3
    got = dec.boxes[0][dec.valid[0]].numpy()
    got_classes = dec.classes[0][dec.valid[0]].numpy()
    order = np.lexsort((got[:, 0], got_classes))
    want_order = np.lexsort((boxes[:, 0], classes))
    np.testing.assert_allclose(got[order], boxes[want_order], atol=1e-3)
    np.testing.assert_array_equal(got_classes[order], classes[want_order])


def test_peak_test_keeps_one_box_per_blob_and_threshold_and_top_k() -> None:
    heat = torch.full((1, 1, 10, 10), -10.0)
    heat[0, 0, 2:5, 2:5] = 0.0  # a 3x3 blob, its centre highest
    heat[0, 0, 3, 3] = 2.0
    heat[0, 0, 8, 8] = 1.0  # a second, weaker peak
    heat[0, 0, 0, 9] = -0.5  # below the threshold (p = 0.38)
    zeros = torch.zeros(1, 2, 10, 10)
    dec = decode_boxes(heat, zeros, zeros, 8, (80, 80), 0.5, 5)
    assert dec.valid[0].tolist() == [True, True, False, False, False]
    centres = (dec.boxes[0, :2, :2] + dec.boxes[0, :2, 2:]) / 2
    torch.testing.assert_close(centres, torch.tensor([[24.0, 24.0], [64.0, 64.0]]))
    # size 0 in log cells = one cell wide
    torch.testing.assert_close(dec.boxes[0, 0], torch.tensor([20.0, 20.0, 28.0, 28.0]))
    assert decode_boxes(heat, zeros, zeros, 8, (80, 80), 0.5, 1).boxes.shape == (1, 1, 4)
