"""Student-vs-teacher scoring: box matching, recall/precision and embedding cosines."""

from __future__ import annotations

import numpy as np
import pytest

from vstream.eval.detection import compare, match_boxes
from vstream.detect.labels import FACE, PERSON
from vstream.detections import Detections


def test_match_boxes_is_one_to_one_at_iou_half() -> None:
    truth = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]], np.float32)
    pred = np.array([[1, 1, 11, 11], [0, 0, 10, 9], [21, 21, 31, 31], [100, 100, 110, 110]],
                    np.float32)
    rows, cols = match_boxes(pred, truth)
    pairs = sorted(zip(rows.tolist(), cols.tolist()))
    # two predictions overlap truth 0: only one may take it (the better, IoU 0.9)
    assert pairs == [(1, 0), (2, 1)]
    assert match_boxes(pred[:0], truth)[0].size == 0


def _dets(boxes, classes, emb) -> Detections:
    return Detections(np.array(boxes, np.float32).reshape(-1, 4), class_id=np.array(classes, np.int32),
                      embedding=np.array(emb, np.float32).reshape(len(classes), 2))


def test_compare_counts_and_cosines() -> None:
    e1, e2 = [1.0, 0.0], [0.6, 0.8]
    teacher = [
        _dets([[0, 0, 10, 10], [0, 0, 30, 40]], [FACE, PERSON], [e1, [0.0, 0.0]]),
        _dets([[50, 50, 60, 60]], [FACE], [e2]),
    ]
    model = [
        _dets([[0, 0, 10, 10], [0, 0, 30, 40], [70, 0, 80, 10]], [FACE, PERSON, FACE], [e2, e1, e1]),
        _dets([], [], np.zeros((0, 2))),
    ]
    got = compare(model, teacher)
    face, person = got["face"], got["person"]
    assert (face.teacher, face.model, face.matched) == (2, 2, 1)
    assert face.recall == 0.5 and face.precision == 0.5
    assert (person.recall, person.precision) == (1.0, 1.0)
    assert got["face_cosine"] == pytest.approx(0.6)  # e2 . e1
    assert np.isnan(got["person_cosine"])  # the teacher person has no appearance (zero row)
    # the constant predictor is the normalised mean of the matched teacher faces (e1 only)
    assert got["face_cosine_constant"] == pytest.approx(1.0)


def test_pair_correlation_is_one_for_the_teacher_itself_and_nan_for_a_constant() -> None:
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(5, 8)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    boxes = [[10 * i, 0, 10 * i + 8, 8] for i in range(5)]
    teacher = [Detections(np.array(boxes, np.float32), class_id=np.full(5, FACE, np.int32), embedding=emb)]
    same = compare(teacher, teacher)
    assert same["face_pair_correlation"] == pytest.approx(1.0)
    assert same["face_cosine"] == pytest.approx(1.0)
    constant = [Detections(np.array(boxes, np.float32), class_id=np.full(5, FACE, np.int32),
                           embedding=np.tile(emb[:1], (5, 1)))]
    assert np.isnan(compare(constant, teacher)["face_pair_correlation"])
