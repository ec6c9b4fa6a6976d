"""Scoring person boxes against one hand-marked point per person."""

from __future__ import annotations

import numpy as np
import pytest

from vstream.eval.point_people import PointPeople, score_point_people, time_key

PERSON = [[10, 10, 50, 90]]


def labels(**frames) -> PointPeople:
    return PointPeople("v", 4.0, {k: (np.asarray(p, np.float32).reshape(-1, 2),
                                      np.asarray(o, np.float32).reshape(-1, 2))
                                  for k, (p, o) in frames.items()})


def test_found_missed_and_false_boxes() -> None:
    truth = labels(a=([[30, 50], [200, 50]], []), b=([], []))
    score = score_point_people(truth, {"a": np.array(PERSON), "b": np.array([[100, 0, 140, 80]])})
    assert (score.people, score.found, score.boxes, score.on_people) == (2, 1, 2, 1)
    assert score.recall == 0.5 and score.precision == 0.5 and score.frames == 2


def test_an_optional_person_is_neither_missed_nor_a_false_box() -> None:
    truth = labels(a=([], [[30, 50]]), b=([], [[30, 50]]))
    score = score_point_people(truth, {"a": np.array(PERSON), "b": np.zeros((0, 4))})
    assert score.recall == 1.0 and score.precision == 1.0 and score.boxes == 1


def test_one_box_around_two_people_finds_one() -> None:
    truth = labels(a=([[20, 50], [40, 50]], []))
    score = score_point_people(truth, {"a": np.array(PERSON)})
    assert score.found == 1 and score.on_people == 1


def test_every_labelled_frame_needs_its_boxes() -> None:
    with pytest.raises(ValueError, match="no boxes given"):
        score_point_people(labels(a=([], []), b=([], [])), {"a": np.zeros((0, 4))})


def test_time_keys_are_the_labels_keys() -> None:
    assert time_key(1.28) == "1.28" and time_key(0.0) == "0.00" and time_key(5.000001) == "5.00"


def test_a_file_that_is_not_labels_is_one_clear_error(tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"frames": {"1.00": {"people": []}}}')
    for path in (bad, tmp_path / "missing.json"):
        with pytest.raises(ValueError, match="not a people-labels file"):
            PointPeople.load(path)


def test_the_bikes_labels_load() -> None:
    from pathlib import Path

    labels = PointPeople.load(Path(__file__).parents[1] / "data" / "bikes_people.json")
    assert len(labels.frames) == 40 and labels.sample_fps == 4.0
    assert sum(len(p) for p, _ in labels.frames.values()) == 13
