"""MOTA and IDF1 on hand-made cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from vstream.detections import Detections
from vstream.eval.mot import clear_mot, evaluate, idf1

A = [0, 0, 10, 10]
B = [100, 0, 110, 10]


def _f(boxes, ids):
    return Detections(np.array(boxes, np.float32).reshape(-1, 4), tracker_id=np.array(ids, np.int64))


def test_perfect():
    gt = [_f([A, B], [1, 2])] * 4
    pred = [_f([A, B], [7, 8])] * 4
    s = evaluate(gt, pred)
    assert (s.mota, s.idf1, s.fn, s.fp, s.id_switches) == (1.0, 1.0, 0, 0, 0)


def test_one_switch():
    # GT 1 is tracked as 7 for two frames, then as 9 for two frames.
    gt = [_f([A], [1])] * 4
    pred = [_f([A], [7])] * 2 + [_f([A], [9])] * 2
    mota, num_gt, fn, fp, idsw = clear_mot(gt, pred)
    assert (num_gt, fn, fp, idsw) == (4, 0, 0, 1) and mota == pytest.approx(0.75)
    score, idtp, idfp, idfn = idf1(gt, pred)
    assert (idtp, idfp, idfn) == (2, 2, 2) and score == pytest.approx(0.5)


def test_switch_back_counts_again_and_misses():
    # 7, 7, miss, 9, 7: two switches (7->9, 9->7); one FN; a far-away FP in frame 3.
    gt = [_f([A], [1])] * 5
    pred = [_f([A], [7]), _f([A], [7]), _f([B], [5]), _f([A], [9]), _f([A], [7])]
    mota, num_gt, fn, fp, idsw = clear_mot(gt, pred)
    assert (fn, fp, idsw) == (1, 1, 2) and mota == pytest.approx(1 - 4 / 5)
    score, idtp, idfp, idfn = idf1(gt, pred)
    assert (idtp, idfp, idfn) == (3, 2, 2) and score == pytest.approx(6 / 10)


def test_iou_threshold_and_persistence():
    # A prediction overlapping at IoU 1/3 is no match; a kept correspondence beats a better box.
    shifted = [5, 0, 15, 10]
    assert clear_mot([_f([A], [1])], [_f([shifted], [3])])[2:] == (1, 1, 0)
    gt = [_f([A], [1])] * 2
    pred = [_f([A], [7]), _f([[0, 0, 10, 11], [0, 0, 10, 10]], [7, 8])]
    assert clear_mot(gt, pred)[2:] == (0, 1, 0)


def test_empty_frames_and_errors():
    s = evaluate([_f([], [])] * 2 + [_f([A], [1])], [_f([], [])] * 3)
    assert (s.fn, s.fp, s.mota, s.idf1) == (1, 0, 0.0, 0.0)
    with pytest.raises(ValueError, match="one Detections per frame"):
        evaluate([_f([A], [1])], [])
    with pytest.raises(ValueError, match="without tracker_id"):
        evaluate([_f([A], [1])], [_f([A], [-1])])
