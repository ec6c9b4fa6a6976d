"""Detections, tracks, events and people: written once, read back, never duplicated (both back ends)."""

from __future__ import annotations

import pytest

from vstream.store import DetectionRow, EventRow, PersonRow, StoreURL, TrackRow, open_store


def _rows(version: str = "m1"):
    detections = [DetectionRow("cam", frame, rank, frame / 25, "face", 0.9, 0.1, 0.2, 0.3, 0.4,
                               7, version) for frame in (0, 5) for rank in (0, 1)]
    tracks = [TrackRow("cam", 7, 0, "face", "p1", 0, 5, 0.0, 0.2, 2, version),
              TrackRow("cam", 8, 1, "person", "", 10, 20, 0.4, 0.8, 3, version)]
    events = [EventRow("cam", 0, 0.0, "enter", "p1", 1, version, track_id=3),
              EventRow("cam", 5, 0.2, "leave", "p1", 0, version, track_id=3),
              EventRow("cam", 5, 0.2, "count", "", 0, version)]
    return detections, tracks, events


def test_analysis_rows_round_trip_and_rewrites_add_nothing(store_url: StoreURL) -> None:
    detections, tracks, events = _rows()
    with open_store(store_url) as store:
        assert store.write_detections(detections) == 4
        assert store.write_tracks(tracks) == 2
        assert store.write_events(events) == 3
        # a replayed chunk or a re-index writes the same rows again: nothing is added
        assert (store.write_detections(detections), store.write_tracks(tracks),
                store.write_events(events)) == (0, 0, 0)
        assert [store.count(t) for t in ("detections", "tracks", "events")] == [4, 2, 3]
        assert store.tracks_of("cam", "m1") == [
            t.__class__(**{**t.__dict__, "written_at": back.written_at})
            for t, back in zip(tracks, store.tracks_of("cam", "m1"))]
        assert [(e.kind, e.person_id, e.frame) for e in store.events_of("cam", "m1")] == [
            ("enter", "p1", 0), ("count", "", 5), ("leave", "p1", 5)]


def test_people_newest_version_wins(store_url: StoreURL) -> None:
    old = PersonRow("m1", "p1", ((1.0, 0.0), (0.0, 1.0)), 1, "a", 1.0, "a", 1.0, version=1)
    new = PersonRow("m1", "p1", ((0.6, 0.8),), 2, "a", 1.0, "b", 9.5, version=2)
    other = PersonRow("m1", "p10", ((0.0, 1.0),), 1, "b", 3.0, "b", 3.0, version=1)
    with open_store(store_url) as store:
        store.write_people([new, old, other])
        store.write_people([PersonRow("m2", "p1", ((1.0,),), 1, "c", 0.0, "c", 0.0, version=1)])
        people = store.people("m1")
        assert [p.person_id for p in people] == ["p1", "p10"]
        assert people[0].exemplars == ((pytest.approx(0.6), pytest.approx(0.8)),)
        assert (people[0].tracklets, people[0].last_stream, people[0].version) == (2, "b", 2)


def test_row_ids_are_identity() -> None:
    a = DetectionRow("cam", 3, 0, 0.1, "face", 0.9, 0, 0, 1, 1, 0, "m")
    assert DetectionRow("cam", 3, 0, 0.1, "face", 0.5, 0, 0, 1, 1, 0, "m").row_id == a.row_id
    assert DetectionRow("cam", 3, 1, 0.1, "face", 0.9, 0, 0, 1, 1, 0, "m").row_id != a.row_id
    with pytest.raises(ValueError, match="does not match"):
        DetectionRow("cam", 3, 0, 0.1, "face", 0.9, 0, 0, 1, 1, 0, "m", row_id=a.row_id + 1)
    with pytest.raises(ValueError, match="kind"):
        EventRow("cam", 0, 0.0, "explodes", "p1", 1, "m")


# -- rows of the stages' domain objects (vstream.store.analysis_rows) ----------------------------

def test_rows_of_domain_objects_keep_their_identity() -> None:
    import numpy as np

    from vstream.detections import Detections
    from vstream.segment.scenes import Scene
    from vstream.store.analysis_rows import detection_rows, event_rows, scene_rows, track_rows
    from vstream.store.rows import row_id_for
    from vstream.track.presence import PresenceEvent
    from vstream.track.tracklets import FrameRecord, build_tracklets

    boxes = np.array([[32, 18, 64, 54], [-8, 0, 700, 360]], np.float32)
    tracked = Detections(boxes, np.array([0.9, 0.4], np.float32), np.array([1, 0], np.int32),
                         np.array([7, -1], np.int64))
    frames = [FrameRecord(10, 0.4, tracked, (640, 360)), FrameRecord(15, 0.6, tracked, (640, 360))]
    rows = detection_rows("cam", "v", frames)
    assert [(r.frame, r.rank, r.track_id) for r in rows] == [(10, 0, 7), (10, 1, 0), (15, 0, 7), (15, 1, 0)]
    assert (rows[0].x1, rows[0].y2, rows[1].x1, rows[1].x2) == pytest.approx((0.05, 0.15, 0, 1))  # clipped
    assert rows[3].row_id == row_id_for("cam", "detection", (15, 1), "v")
    [track] = track_rows("cam", "v", 2, build_tracklets(frames))
    assert (track.track_id, track.scene_index, track.first_frame, track.last_frame,
            track.detections) == (7, 2, 10, 15, 2)
    assert track.row_id == row_id_for("cam", "track", (10, 7), "v")
    [event] = event_rows("cam", "v", [PresenceEvent(15, 0.6, "enter", "p3", 1, 7)])
    assert event.row_id == row_id_for("cam", "event", (15, "enter", "p3"), "v")
    assert (event.track_id, event.people) == (7, 1)
    [scene] = scene_rows("cam", "v", [Scene(2, 10, 20, 0.4, 0.8)])
    assert scene.row_id == row_id_for("cam", "scene", 10, "v")


def test_people_round_trip_through_rows() -> None:
    import numpy as np

    from vstream.store.analysis_rows import person_rows, stored_people
    from vstream.track.gallery import PeopleGallery

    gallery = PeopleGallery("m1", 0.6)
    rng = np.random.default_rng(0)
    for stream in ("a", "b"):
        gallery.identify(rng.normal(size=(3, 8)), stream, 1.5)
    rows = person_rows(gallery.people())
    again = PeopleGallery("m1", 0.6)
    again.load(stored_people(rows))
    assert person_rows(again.people(changed_only=False)) == rows
