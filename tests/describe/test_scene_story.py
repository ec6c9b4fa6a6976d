"""Scene stories: people, tags, enter/leave/count events and the paragraph, from tracklets."""

from __future__ import annotations

import numpy as np

from vstream.describe.scene_story import ANIMAL_TAGS, describe, moves, scene_events, scene_tags
from vstream.detect.labels import FACE, PERSON
from vstream.detections import Detections
from vstream.track.tracklets import FrameRecord, build_tracklets, containment

SIZE = (100, 100)


def _record(frame: int, boxes: list[tuple[int, int, list[float]]], tags=None) -> FrameRecord:
    """boxes: (track_id, class_id, xyxy) per detection."""
    if not boxes:
        return FrameRecord(frame, frame / 10, Detections.empty(4), SIZE, tags)
    xyxy = np.array([b[2] for b in boxes], np.float32)
    d = Detections(xyxy, class_id=[b[1] for b in boxes], tracker_id=[b[0] for b in boxes],
                   embedding=np.ones((len(boxes), 4), np.float32))
    return FrameRecord(frame, frame / 10, d, SIZE, None if tags is None else np.asarray(tags, np.float32))


FACE_BOX, BODY_BOX = [40, 10, 60, 30], [20, 0, 80, 100]


def _scene():
    # p1 (track 1) is there from the start; p2 (track 2) enters at frame 30 and leaves after 50
    records = []
    for f in range(0, 100, 10):
        boxes = [(1, FACE, FACE_BOX)]
        if 30 <= f <= 50:
            boxes.append((2, FACE, [5, 5, 15, 15]))
        records.append(_record(f, boxes, tags=[0.1, 0.7, 0.3]))
    tracklets = build_tracklets(records)
    tracklets[0].person_id, tracklets[1].person_id = "p1", "p2"
    return records, tracklets


def test_events_enter_leave_and_settled_counts() -> None:
    records, tracklets = _scene()
    events = [(e.frame, e.kind, e.person_id, e.people) for e in scene_events(tracklets, records)]
    assert events == [
        (0, "enter", "p1", 1), (0, "count", "", 1),
        (30, "enter", "p2", 2), (30, "count", "", 2),
        (50, "leave", "p2", 2), (60, "count", "", 1),
        (90, "leave", "p1", 1),
    ]


def test_a_one_frame_dropout_is_not_a_count_change() -> None:
    records = [_record(f, [] if f == 20 else [(1, FACE, FACE_BOX)]) for f in range(0, 60, 10)]
    tracklets = build_tracklets(records)
    tracklets[0].person_id = "p1"
    kinds = [(e.kind, e.people) for e in scene_events(tracklets, records) if e.kind == "count"]
    assert kinds == [("count", 1)]


def test_description_names_people_tags_and_moves() -> None:
    records, tracklets = _scene()
    story = describe(0.0, 9.2, tracklets, records, ("outdoor", "stage", "guitar"))
    assert story.people == ("p1", "p2")
    assert story.tags == ("stage", "guitar")  # 0.1 < min_score
    assert "p1 and p2 appear, at most 2 at once" in story.description
    assert "p2 enters at 00:00:03.0 and p2 leaves at 00:00:05.0" in story.description
    assert "stage, guitar" in story.description
    assert moves(story.events, 0.0, 9.2) == ("p2 enters at 00:00:03.0", "p2 leaves at 00:00:05.0")


def test_a_scene_always_gets_its_best_tag_and_no_one_is_said_so() -> None:
    records = [_record(0, [], tags=[0.05, 0.02, 0.01])]
    story = describe(0.0, 1.0, [], records, ("outdoor", "stage", "guitar"))
    assert story.tags == ("outdoor",) and "No one is seen." in story.description
    assert scene_tags([], ("a",)) == ()


def test_tracklets_split_by_track_and_face_inside_body() -> None:
    records = [_record(f, [(1, FACE, FACE_BOX), (2, PERSON, BODY_BOX), (3, PERSON, [0, 0, 10, 10])])
               for f in (0, 10)] + [_record(20, [(-1, FACE, FACE_BOX)])]
    tracklets = build_tracklets(records)
    assert [(t.track_id, t.frames) for t in tracklets] == [(1, [0, 10]), (2, [0, 10]), (3, [0, 10])]
    face, body, other = tracklets
    assert containment(face, body) == 1.0 and containment(face, other) == 0.0
    np.testing.assert_allclose(face.boxes[0], np.array(FACE_BOX) / 100)


def test_detector_tags_person_group_and_close_up() -> None:
    big_face, body = [30, 0, 70, 40], [0, 0, 100, 100]
    crowd = [_record(f, [(1, FACE, big_face), (2, PERSON, body), (3, PERSON, body), (4, PERSON, body)],
                     tags=[0.9, 0.0, 0.0]) for f in range(3)]
    assert scene_tags(crowd, ("stage", "b", "c")) == ("person", "group", "close-up", "stage")
    far = [_record(f, [(1, FACE, [0, 0, 5, 5])] + ([(2, PERSON, body)] if f == 0 else []))
           for f in range(3)]
    assert scene_tags(far, ("a",)) == ()  # people in 1 of 3 frames, small faces, no tag scores


def test_a_scene_of_people_gets_no_animal_tag_and_a_scene_without_them_keeps_it() -> None:
    body = [0, 0, 100, 100]
    names = ("dog", "primate", "stage")
    people = [_record(f, [(1, PERSON, body)], tags=[0.6, 0.3, 0.2]) for f in range(3)]
    assert scene_tags(people, names) == ("person", "stage")
    empty = [_record(f, [], tags=[0.6, 0.3, 0.2]) for f in range(3)]
    assert scene_tags(empty, names) == ("dog", "primate", "stage")


def test_a_weak_classifier_tag_is_dropped_where_the_detector_already_tags_the_scene() -> None:
    # the singer's close-up: "musical instrument" at 0.1, the sum of many instruments' crumbs
    face, body = [30, 0, 70, 40], [0, 0, 100, 100]
    names = ("musical instrument", "stage", "indoor")
    close_up = [_record(f, [(1, FACE, face), (2, PERSON, body)], tags=[0.1, 0.05, 0.02])
                for f in range(3)]
    assert scene_tags(close_up, names) == ("person", "close-up")
    confident = [_record(f, [(1, FACE, face), (2, PERSON, body)], tags=[0.4, 0.2, 0.02])
                 for f in range(3)]
    assert scene_tags(confident, names) == ("person", "close-up", "musical instrument", "stage")


def test_every_animal_tag_is_a_tag_of_the_classifier() -> None:
    import json
    from importlib.resources import files

    tag_map = json.loads(files("vstream.detect").joinpath("data/tag_map.json").read_text())
    assert ANIMAL_TAGS <= set(tag_map["object"])
