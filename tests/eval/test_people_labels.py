"""Scoring people IDs against the hand labels of the test video's scenes."""

from __future__ import annotations

import math
from pathlib import Path

from vstream.eval.people_labels import ids_per_label, load_labels, score, singer_id

LABELS = load_labels(Path(__file__).parents[1] / "data" / "test_video_people.json")


def test_the_labels_name_the_singer_clearly_in_18_of_42_scenes() -> None:
    assert len(LABELS) == 42
    assert sum(s.singer_face_clear for s in LABELS) == 18
    assert all(s.singer_face_clear <= ("singer" in s.people) for s in LABELS)


def test_a_gallery_that_merges_the_blonde_dancer_into_the_singer_loses_purity() -> None:
    merged = {s.scene: frozenset({"p1"}) if s.people & {"singer", "blonde dancer"} else frozenset()
              for s in LABELS}
    apart = {s.scene: frozenset({"p1"}) if "singer" in s.people else
             frozenset({"p2"}) if "blonde dancer" in s.people else frozenset() for s in LABELS}
    singers = sum("singer" in s.people for s in LABELS)
    blondes = sum("blonde dancer" in s.people for s in LABELS)
    bad = score(LABELS, merged, singer_id(LABELS, merged))
    good = score(LABELS, apart, singer_id(LABELS, apart))
    assert bad.singer_id == good.singer_id == "p1"
    assert bad.purity == singers / (singers + blondes) and bad.own_ids == {"blonde dancer": None}
    assert good.purity == 1.0 and good.coverage == 1.0
    assert good.own_ids == {"blonde dancer": "p2"}


def test_nobody_identified_scores_nan_and_no_ids() -> None:
    empty = {s.scene: frozenset() for s in LABELS}
    result = score(LABELS, empty, singer_id(LABELS, empty))
    assert result.singer_id is None and math.isnan(result.purity) and result.coverage == 0.0


def test_a_labelled_scene_takes_the_ids_of_the_model_scene_covering_most_of_it() -> None:
    first = LABELS[0]  # frames 17..49
    ids = ids_per_label([first], [(0, 20, ["p1"]), (21, 60, ["p2", "p3"]), (61, 90, ["p4"])])
    assert ids == {first.scene: frozenset({"p2", "p3"})}
    assert ids_per_label([first], [(100, 200, ["p1"])]) == {first.scene: frozenset()}
