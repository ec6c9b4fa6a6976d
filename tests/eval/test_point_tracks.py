"""Identity F1 against point labels (`vstream.eval.point_tracks`)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vstream.detections import Detections
from vstream.eval.point_tracks import PointLabels, assign_points, score_point_tracks


def _labels(frames: dict[int, list[tuple[int, float, float]]]) -> PointLabels:
    return PointLabels({f: (np.array([r[0] for r in rows], np.int64),
                            np.array([r[1:] for r in rows], np.float32).reshape(-1, 2))
                        for f, rows in frames.items()})


def _boxes(rows: list[tuple[int, float, float]]) -> Detections:
    """A 20x40 box centred on each (track id, x, y)."""
    xyxy = np.array([[x - 10, y - 20, x + 10, y + 20] for _, x, y in rows], np.float32).reshape(-1, 4)
    return Detections(xyxy, tracker_id=np.array([r[0] for r in rows], np.int64))


# two people walking towards each other along y = 100, ten labelled frames
WALK = {f: [(1, 50 + 10 * f, 100), (2, 250 - 10 * f, 100)] for f in range(10)}


def test_a_tracker_that_follows_everyone_scores_one():
    pred = {f: _boxes([(7, x, y), (9, x2, y2)]) for f, [(_, x, y), (_, x2, y2)] in WALK.items()}
    s = score_point_tracks(_labels(WALK), pred)
    assert (s.idf1, s.idtp, s.missed, s.ids_per_person) == (1.0, 20, 0, 1.0)


def test_a_swap_halfway_costs_half_of_each_identity():
    pred = {}
    for f, [(_, x, y), (_, x2, y2)] in WALK.items():
        a, b = (7, 9) if f < 5 else (9, 7)
        pred[f] = _boxes([(a, x, y), (b, x2, y2)])
    s = score_point_tracks(_labels(WALK), pred)
    assert (s.idtp, s.idfp, s.idfn) == (10, 10, 10)
    assert s.idf1 == pytest.approx(0.5)
    assert s.ids_per_person == 2.0


def test_a_track_restarted_under_a_new_id_is_a_fragment():
    pred = {f: _boxes([(7 if f < 4 else 8, x, y), (9, x2, y2)]) for f, [(_, x, y), (_, x2, y2)] in WALK.items()}
    s = score_point_tracks(_labels(WALK), pred)
    assert s.idtp == 16  # person 1's six later frames went to a track that is not theirs
    assert s.idf1 == pytest.approx(2 * 16 / (2 * 16 + 4 + 4))


def test_one_loose_box_around_two_people_takes_only_one():
    labels = _labels({0: [(1, 100, 100), (2, 104, 100)]})
    pred = {0: Detections(np.array([[80, 60, 130, 140]], np.float32), tracker_id=np.array([5]))}
    s = score_point_tracks(labels, pred)
    assert (s.idtp, s.missed, s.idfn) == (1, 1, 1)


def test_untracked_boxes_and_frames_without_output_are_misses():
    labels = _labels({0: [(1, 100, 100)], 1: [(1, 110, 100)]})
    pred = {0: Detections(np.array([[90, 80, 110, 120]], np.float32), tracker_id=np.array([-1]))}
    s = score_point_tracks(labels, pred)
    assert (s.idtp, s.num_pred, s.missed, s.idf1) == (0, 0, 2, 0.0)


def test_assign_points_prefers_the_box_centred_on_the_point():
    boxes = np.array([[0, 0, 100, 100], [40, 40, 60, 60]], np.float32)
    got = assign_points(np.array([[50, 50], [10, 10]], np.float32), boxes)
    assert got.tolist() == [[False, True], [True, False]]


def test_labels_load_from_json(tmp_path):
    path = tmp_path / "ids.json"
    path.write_text(json.dumps({"frames": {"10": [[2, 5, 6]], "0": [[1, 1, 2], [2, 3, 4]]}}))
    labels = PointLabels.load(path)
    assert list(labels.frames) == [0, 10]
    assert labels.frames[0][0].tolist() == [1, 2] and labels.frames[0][1].tolist() == [[1, 2], [3, 4]]
    assert labels.identities == {1, 2}
