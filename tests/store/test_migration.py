"""A store written by an older vstream is brought up to date in place, on both back ends."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from vstream.store import SCHEMA_VERSION, SceneRow, StoreURL, open_backend, open_store

# The scenes table and version record exactly as schema version 1 made them.
V1_STATEMENTS = (
    """CREATE TABLE IF NOT EXISTS vstream_meta (key String, value String, updated_at DateTime('UTC'))
       ENGINE = ReplacingMergeTree(updated_at) PARTITION BY tuple() ORDER BY key""",
    """CREATE TABLE IF NOT EXISTS scenes (row_id UInt64, stream_id String, scene_index UInt32,
       start_s Float64, end_s Float64, start_frame UInt64, end_frame UInt64, model_version String,
       written_at DateTime('UTC'))
       ENGINE = ReplacingMergeTree(written_at) PARTITION BY tuple()
       ORDER BY (stream_id, model_version, start_frame)""",
)


def test_version_1_store_gains_scene_tags_and_keeps_its_rows(store_url: StoreURL) -> None:
    old = SceneRow("cam", 0, 0.0, 2.0, 0, 49, "v1")
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    with open_backend(store_url) as backend:
        for statement in V1_STATEMENTS:
            backend.execute(statement)
        backend.insert("vstream_meta", ("key", "value", "updated_at"), [("schema_version", "1", when)])
        backend.insert(
            "scenes",
            ("row_id", "stream_id", "scene_index", "start_s", "end_s", "start_frame", "end_frame",
             "model_version", "written_at"),
            [(old.row_id, "cam", 0, 0.0, 2.0, 0, 49, "v1", when)],
        )
    with open_store(store_url) as store:
        assert store.ensure_schema() == SCHEMA_VERSION == 7
        [stored] = store.scenes_of("cam", "v1")
        assert stored.row_id == old.row_id and stored.tags == ()
        new = SceneRow("cam", 1, 2.0, 4.0, 50, 99, "v1", tags=("stage", "microphone"))
        assert store.write_scenes([new]) == 1
        assert [s.tags for s in store.scenes_of("cam", "v1")] == [(), ("stage", "microphone")]
    with open_store(store_url) as again:  # a second open migrates nothing twice
        assert again.ensure_schema() == SCHEMA_VERSION


@pytest.mark.parametrize("tags", [(), ("outdoor",), ("it's", "a \\ tag", "ünïcode")])
def test_tags_round_trip(store_url: StoreURL, tags: tuple[str, ...]) -> None:
    with open_store(store_url) as store:
        store.write_scenes([SceneRow("s", 0, 0.0, 1.0, 0, 24, "v", tags=tags)])
        assert store.scenes_of("s", "v")[0].tags == tags


def test_version_1_store_gains_people_and_description(store_url: StoreURL) -> None:
    with open_backend(store_url) as backend:
        for statement in V1_STATEMENTS:
            backend.execute(statement)
        backend.insert("vstream_meta", ("key", "value", "updated_at"),
                       [("schema_version", "1", datetime(2026, 1, 2, tzinfo=timezone.utc))])
    with open_store(store_url) as store:
        store.ensure_schema()
        row = SceneRow("cam", 0, 0.0, 2.0, 0, 49, "v", tags=("stage",), people=("p1", "p2"),
                       description="p2 enters at 00:00:01.")
        store.write_scenes([row])
        [back] = store.scenes_of("cam", "v")
        assert (back.people, back.description) == (("p1", "p2"), "p2 enters at 00:00:01.")


def test_version_4_store_loses_the_old_checkpoint_table(store_url: StoreURL) -> None:
    """Version 4 kept the worker's stream checkpoints in the store; the worker keeps them in its
    faust table now, so version 5 drops the table (and nothing else)."""
    from vstream.store import schema

    with open_backend(store_url) as backend:
        for statement in schema.CREATE_STATEMENTS:  # version 4's tables, but for stream_state
            backend.execute(statement)
        backend.execute("CREATE TABLE stream_state (topic String, version UInt64) "
                        "ENGINE = ReplacingMergeTree(version) PARTITION BY tuple() ORDER BY topic")
        backend.insert("vstream_meta", ("key", "value", "updated_at"),
                       [("schema_version", "4", datetime(2026, 11, 2, tzinfo=timezone.utc))])
    with open_store(store_url) as store:
        assert store.ensure_schema() == SCHEMA_VERSION == 7
        assert store.backend.query(
            "SELECT count() FROM system.tables WHERE database = currentDatabase() "
            "AND name = 'stream_state'").scalar() == 0
        assert store.write_scenes([SceneRow("cam", 0, 0.0, 2.0, 0, 49, "v")]) == 1


# The streams table exactly as schema version 5 made it (before the stream status).
V5_STREAMS = """CREATE TABLE streams (stream_id String, source String, codec String, width UInt32,
    height UInt32, fps Float64, frames UInt64, duration_s Float64, model_version String,
    indexed_at DateTime('UTC')) ENGINE = ReplacingMergeTree(indexed_at) PARTITION BY tuple()
    ORDER BY stream_id"""


def test_version_5_streams_read_as_complete_and_partial_ones_round_trip(store_url: StoreURL) -> None:
    """Version 6 adds a stream's status: a version 5 row was complete (a file that failed got no
    row), and the status and its reason of a new row read back as written."""
    from vstream.store import StreamRow, schema

    when = datetime(2026, 11, 30, tzinfo=timezone.utc)
    with open_backend(store_url) as backend:
        for statement in (*schema.CREATE_STATEMENTS, "DROP TABLE streams", V5_STREAMS):
            backend.execute(statement)
        backend.insert("streams", schema.STREAM_COLUMNS[:-2],
                       [("old", "/v/old.mp4", "h264", 160, 90, 25.0, 100, 4.0, "v", when)])
        backend.insert("vstream_meta", ("key", "value", "updated_at"), [("schema_version", "5", when)])
    with open_store(store_url) as store:
        assert store.ensure_schema() == SCHEMA_VERSION == 7
        old = store.stream("old")
        assert (old.status, old.status_reason, old.frames) == ("complete", "", 100)
        cut = StreamRow("cut", "/v/cut.mp4", "h264", 160, 90, 25.0, 50, 2.0, "v",
                        status="partial", status_reason="50 of 100 frames indexed; the data ends early")
        assert store.write_stream(cut)
        back = store.stream("cut")
        assert (back.status, back.status_reason) == ("partial", cut.status_reason)
        assert not store.write_stream(cut)  # the same row again changes nothing
    with open_store(store_url) as again:  # a second open migrates nothing twice
        assert again.ensure_schema() == SCHEMA_VERSION
        assert again.stream("old").status == "complete"


V6_EVENTS = """CREATE TABLE events (row_id UInt64, stream_id String, scene_index UInt32,
    frame UInt64, t_s Float64, kind String, person_id String, people UInt32,
    model_version String, written_at DateTime('UTC')) ENGINE = ReplacingMergeTree(written_at)
    PARTITION BY tuple() ORDER BY (stream_id, model_version, frame, kind, person_id)"""


def test_version_6_events_lose_their_scene_and_gain_their_track(store_url: StoreURL) -> None:
    """Version 7 makes events live: the scene column goes (an event is decided before its
    scene is), the track of an enter or leave comes. A version 6 event reads back with track 0
    (none) and keeps its row ID; a new one has its track."""
    from vstream.store import EventRow, schema

    when = datetime(2026, 12, 1, tzinfo=timezone.utc)
    old = EventRow("cam", 10, 0.4, "enter", "p1", 1, "v")
    with open_backend(store_url) as backend:
        for statement in (*schema.CREATE_STATEMENTS, "DROP TABLE events", V6_EVENTS):
            backend.execute(statement)
        backend.insert("events", ("row_id", "stream_id", "scene_index", "frame", "t_s", "kind",
                                  "person_id", "people", "model_version", "written_at"),
                       [(old.row_id, "cam", 3, 10, 0.4, "enter", "p1", 1, "v", when)])
        backend.insert("vstream_meta", ("key", "value", "updated_at"), [("schema_version", "6", when)])
    with open_store(store_url) as store:
        assert store.ensure_schema() == SCHEMA_VERSION
        new = EventRow("cam", 30, 1.2, "leave", "p1", 0, "v", track_id=4)
        assert store.write_events([old, new]) == 1  # the old row is there already
        assert [(e.frame, e.kind, e.track_id) for e in store.events_of("cam", "v")] == \
            [(10, "enter", 0), (30, "leave", 4)]
        columns = store.query_readonly("SELECT name FROM system.columns WHERE table = 'events' "
                                       "AND database = currentDatabase()").rows
        assert ("scene_index",) not in columns and ("track_id",) in columns
