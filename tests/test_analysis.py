"""`vstream index` with the default model on the real test video: who is in each scene, and
what happens (issue acceptance: one ID for the recurring lead singer, tags and a description on
every scene, enter/leave events as people come and go, a SQL answer to "scenes with the most
frequent person")."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from vstream.drivers.index import index_video
from vstream.eval.people_labels import ids_per_label, load_labels, score, singer_id
from vstream.store import open_store
from vstream.weights import test_video_path

pytestmark = pytest.mark.integration  # the frame model over the real video

TOP_PERSON_SCENES = """
WITH (SELECT person FROM (SELECT arrayJoin(people) AS person, count() AS n FROM scenes
      WHERE stream_id = 'music' GROUP BY person ORDER BY n DESC, person LIMIT 1)) AS top
SELECT scene_index FROM scenes WHERE stream_id = 'music' AND has(people, top)
ORDER BY scene_index
"""


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    url = f"chdb://{tmp_path_factory.mktemp('analysis') / 'store'}"
    with open_store(url) as store:
        result = index_video(str(test_video_path()), store, stream_id="music")
        again = index_video(str(test_video_path()), store, stream_id="music")
        yield store, result, again


def test_every_scene_has_tags_and_a_description(indexed) -> None:
    store, result, _ = indexed
    rows = store.scenes_of("music")
    assert len(rows) == len(result.scenes) > 100
    assert all(r.tags for r in rows), [r.scene_index for r in rows if not r.tags]
    assert all(r.description.startswith(("00:", "0")) and r.description.endswith(".") for r in rows)


def test_the_lead_singer_is_one_person_across_scenes(indexed) -> None:
    store, result, _ = indexed
    version = result.model_version
    faces = store.query_readonly(
        f"SELECT DISTINCT scene_index FROM tracks WHERE stream_id = 'music' AND class = 'face' "
        f"AND model_version = '{version}'").rows
    scenes_with_face = {s for (s,) in faces}
    counts = Counter(p for r in store.scenes_of("music") for p in r.people)
    top, top_scenes = counts.most_common(1)[0]
    assert len(scenes_with_face) >= 20
    assert top_scenes >= len(scenes_with_face) / 2, (top, top_scenes, len(scenes_with_face), counts)


def test_the_singer_has_one_id_on_the_hand_labelled_scenes(indexed) -> None:
    """Against tests/data/test_video_people.json (who is in 42 scenes, by eye; issue 10's
    numbers): at least 0.9 of the labelled scenes carrying the singer's ID show him, and at
    least 0.8 of those where his face is clearly in view carry it."""
    store, _, _ = indexed
    labels = load_labels(Path(__file__).parent / "data" / "test_video_people.json")
    ids = ids_per_label(labels, [(r.start_frame, r.end_frame, r.people)
                                 for r in store.scenes_of("music")])
    result = score(labels, ids, singer_id(labels, ids))
    assert result.purity >= 0.9 and result.coverage >= 0.8, (result, ids)


def test_the_default_student_gives_the_singer_ids_at_least_as_good_as_the_teachers(indexed) -> None:
    """The default (the unified network, its faces identified by SFace on its own face boxes, at
    OpenCV's published threshold for SFace, not one fitted to these labels) against the teachers
    it is distilled from, on the same labels: at least as pure and as complete (issue 10's bar
    for the default). A doubtful match does not teach its gallery (`LEARN_THRESHOLDS`), so no
    stranger is drawn in through one. (Into the module's store, as a stream of its own: chDB
    opens one store per process.)"""
    store, result, _ = indexed
    assert "/unified-" in result.model_version
    labels = load_labels(Path(__file__).parent / "data" / "test_video_people.json")
    index_video(str(test_video_path()), store, stream_id="music-teachers", model="teachers")
    scores = {}
    for stream in ("music", "music-teachers"):
        ids = ids_per_label(labels, [(r.start_frame, r.end_frame, r.people)
                                     for r in store.scenes_of(stream)])
        scores[stream] = score(labels, ids, singer_id(labels, ids))
    student, teachers = scores["music"], scores["music-teachers"]
    assert teachers.purity >= 0.9 and teachers.coverage >= 0.8, teachers
    assert student.purity >= teachers.purity and student.coverage >= teachers.coverage, scores


def test_sql_lists_the_scenes_of_the_most_frequent_person(indexed) -> None:
    store, _, _ = indexed
    got = [s for (s,) in store.query_readonly(TOP_PERSON_SCENES).rows]
    rows = store.scenes_of("music")
    counts = Counter(p for r in rows for p in r.people)
    top = min(counts, key=lambda p: (-counts[p], p))
    assert got and got == [r.scene_index for r in rows if top in r.people]


def test_people_enter_and_leave_in_turn_and_events_lie_in_scenes_with_those_people(indexed) -> None:
    """Live presence events: each person's enters and leaves alternate, enter first, and
    everyone has left at the end; a gallery person
    entering is among the people of the scene the event's frame is in."""
    store, result, _ = indexed
    scenes = sorted(store.scenes_of("music"), key=lambda r: r.start_frame)
    events = store.events_of("music", result.model_version)
    kinds = Counter(e.kind for e in events)
    assert kinds["enter"] == kinds["leave"] > 0 and kinds["count"] > 0
    in_view: set[str] = set()
    for e in sorted(events, key=lambda e: (e.frame, e.kind != "leave")):
        if e.kind == "enter":
            assert e.person_id not in in_view, e
            in_view.add(e.person_id)
        elif e.kind == "leave":
            assert e.person_id in in_view, e
            in_view.remove(e.person_id)
    assert not in_view
    for e in events:
        scene = next(s for s in scenes if s.start_frame <= e.frame <= s.end_frame)
        assert scene.start_s <= e.t_s < scene.end_s
        if e.kind == "enter" and e.person_id.startswith("p"):
            assert e.person_id in scene.people, (e, scene.people)


def test_reindex_adds_no_rows_and_people_are_persisted(indexed) -> None:
    store, result, again = indexed
    assert again.new_rows == 0
    assert [s.people for s in again.scenes] == [s.people for s in result.scenes]
    for table in ("detections", "tracks", "events", "scenes"):
        (n,), = store.query_readonly(f"SELECT count() FROM {table}").rows
        (d,), = store.query_readonly(f"SELECT uniqExact(row_id) FROM {table}").rows
        assert n == d > 0, table
    model = result.model_version.split("/", 2)[2]
    people = store.people(model)
    assert {p for s in result.scenes for p in s.people} <= {p.person_id for p in people}
