"""Table definitions of the vstream store, and the schema version they make.

The same DDL must run on ClickHouse 18.16 (Debian's clickhouse-server, which the tests use) and
on current ClickHouse (chDB's engine is 26.x). What that rules out, each checked on 18.16:

- DateTime64 and LowCardinality do not exist there: times are ``DateTime('UTC')`` (whole
  seconds, and the explicit zone makes readers on any server see the same instant).
- A table-level ``COMMENT '...'`` is a syntax error there (column comments work, but are not
  used, to keep the DDL plain).
- ``CREATE TABLE IF NOT EXISTS`` with the new ``ENGINE = ... PARTITION BY ... ORDER BY ...``
  syntax works there, so `ensure_schema` can simply be re-run.

Every table is a ReplacingMergeTree whose ORDER BY key is exactly a row's identity, so a row
written twice would collapse on a background merge. The writer never relies on that (merges
happen whenever the server likes, and a plain ``SELECT count()`` sees both copies until then):
it skips rows already stored. Partitioning is ``tuple()`` (none) on purpose: ReplacingMergeTree
only collapses within a partition, and a time-based partition would put a re-written row in a
different partition from the original.

The analysis tables (schema version 3) follow the same rules. Times are media seconds (``t_s``,
``start_s``); boxes are fractions of the frame (0..1), so they mean the same at any decode size.
A person ID (``p1``, ``p2``, ...) names a cluster of the people gallery of one model
(`vstream.track.gallery`); the same ID means the same person across scenes, streams and runs
of that model.
"""

from __future__ import annotations

from typing import NamedTuple

SCHEMA_VERSION = 7

META_TABLE = "vstream_meta"
STREAMS_TABLE = "streams"
SCENES_TABLE = "scenes"
DETECTIONS_TABLE = "detections"
TRACKS_TABLE = "tracks"
EVENTS_TABLE = "events"
PEOPLE_TABLE = "people"

# Key/value facts about the store itself; today only schema_version.
CREATE_META = f"""
CREATE TABLE IF NOT EXISTS {META_TABLE} (
    key String,
    value String,
    updated_at DateTime('UTC')
) ENGINE = ReplacingMergeTree(updated_at)
PARTITION BY tuple()
ORDER BY key
"""

# One row per stream: re-indexing replaces the row explicitly (see ClickHouseWriter.write_stream).
# `status` is 'complete', or 'partial' for a file indexed only as far as it decodes (`frames` is
# then the frames indexed, `status_reason` what was missing); rows of schema 5 and older were
# all complete (a file that failed got no row), hence the DEFAULT.
CREATE_STREAMS = f"""
CREATE TABLE IF NOT EXISTS {STREAMS_TABLE} (
    stream_id String,
    source String,
    codec String,
    width UInt32,
    height UInt32,
    fps Float64,
    frames UInt64,
    duration_s Float64,
    model_version String,
    indexed_at DateTime('UTC'),
    status String DEFAULT 'complete',
    status_reason String
) ENGINE = ReplacingMergeTree(indexed_at)
PARTITION BY tuple()
ORDER BY stream_id
"""

# ORDER BY (stream_id, model_version, start_frame) is the same identity row_id hashes, in the
# order queries filter: one stream, its current model, scenes in time order.
CREATE_SCENES = f"""
CREATE TABLE IF NOT EXISTS {SCENES_TABLE} (
    row_id UInt64,
    stream_id String,
    scene_index UInt32,
    start_s Float64,
    end_s Float64,
    start_frame UInt64,
    end_frame UInt64,
    model_version String,
    written_at DateTime('UTC'),
    tags Array(String),
    people Array(String),
    description String
) ENGINE = ReplacingMergeTree(written_at)
PARTITION BY tuple()
ORDER BY (stream_id, model_version, start_frame)
"""

# One row per detection on an analysed frame; `rank` orders the detections of one frame.
# track_id 0: the detection joined no confirmed track.
CREATE_DETECTIONS = f"""
CREATE TABLE IF NOT EXISTS {DETECTIONS_TABLE} (
    row_id UInt64,
    stream_id String,
    frame UInt64,
    rank UInt32,
    t_s Float64,
    class String,
    score Float32,
    x1 Float32,
    y1 Float32,
    x2 Float32,
    y2 Float32,
    track_id UInt64,
    model_version String,
    written_at DateTime('UTC')
) ENGINE = ReplacingMergeTree(written_at)
PARTITION BY tuple()
ORDER BY (stream_id, model_version, frame, rank)
"""

# One row per track and scene it appears in (a track crossing a cut is split at the cut, so a
# row never spans two scenes), with the person the tracklet was identified as ('' if none).
CREATE_TRACKS = f"""
CREATE TABLE IF NOT EXISTS {TRACKS_TABLE} (
    row_id UInt64,
    stream_id String,
    track_id UInt64,
    scene_index UInt32,
    class String,
    person_id String,
    first_frame UInt64,
    last_frame UInt64,
    first_s Float64,
    last_s Float64,
    detections UInt32,
    model_version String,
    written_at DateTime('UTC')
) ENGINE = ReplacingMergeTree(written_at)
PARTITION BY tuple()
ORDER BY (stream_id, model_version, first_frame, track_id)
"""

# What happens in a stream, decided as the frames are analysed (vstream.track.presence): a
# person enters or leaves view ('enter', 'leave'; track_id the track seen entering or last
# seen; person_id a gallery person "p<n>" or, for a person nobody could identify, "t<track_id>"),
# the number of people in view changes ('count'; person_id empty, people = the new count), a
# live stream's video resumes after a gap ('stream_gap'; person_id empty; the gap's length is
# published with its event, not stored). No scene column: an event is written as it is decided,
# before the shot detector's look-ahead has placed the cuts around it; its frame places it in
# its scene (scenes.start_frame <= frame <= scenes.end_frame). Version 7 dropped the column.
CREATE_EVENTS = f"""
CREATE TABLE IF NOT EXISTS {EVENTS_TABLE} (
    row_id UInt64,
    stream_id String,
    frame UInt64,
    t_s Float64,
    kind String,
    person_id String,
    people UInt32,
    model_version String,
    written_at DateTime('UTC'),
    track_id UInt64
) ENGINE = ReplacingMergeTree(written_at)
PARTITION BY tuple()
ORDER BY (stream_id, model_version, frame, kind, person_id)
"""

# The people gallery: one row per person of a model, replaced as the person is seen again.
# `version` (the tracklets seen so far) picks the newest row: FINAL or argMax(..., version).
# `exemplars` holds up to K appearance vectors, flattened (K x dim; 18.16 has no nested arrays
# in inserts from clickhouse-driver worth trusting).
CREATE_PEOPLE = f"""
CREATE TABLE IF NOT EXISTS {PEOPLE_TABLE} (
    model_version String,
    person_id String,
    exemplars Array(Float32),
    dim UInt32,
    tracklets UInt64,
    first_stream String,
    first_s Float64,
    last_stream String,
    last_s Float64,
    version UInt64,
    updated_at DateTime('UTC')
) ENGINE = ReplacingMergeTree(version)
PARTITION BY tuple()
ORDER BY (model_version, person_id)
"""

class DropColumn(NamedTuple):
    """A migration step dropping a column from a table that may have been created without it
    (as `AddColumn`, the other way round): run only when the column is there."""

    table: str
    column: str

    @property
    def sql(self) -> str:
        return f"ALTER TABLE {self.table} DROP COLUMN {self.column}"


class AddColumn(NamedTuple):
    """A migration step adding a column to a table that may have been created with it already
    (`CREATE_STATEMENTS` run first and make missing tables as they are now): the store runs
    `sql` only when the column is missing. 18.16 has no ``ADD COLUMN IF NOT EXISTS``."""

    table: str
    column: str
    type_sql: str

    @property
    def sql(self) -> str:
        return f"ALTER TABLE {self.table} ADD COLUMN {self.column} {self.type_sql}"


#: Statements that bring a store from version N-1 to N, keyed by N. Version 2 added the
#: scene tags (a store written by version 1 reads back with no tags); version 3 the people and
#: description of a scene and the analysis tables (created by CREATE_STATEMENTS); version 4 the
#: worker's stream_state checkpoint table, which version 5 drops again (the worker keeps stream
#: states in a faust table on Kafka since); version 6 the status of a stream (complete or
#: partial) and why it is partial; version 7 makes events live: their scene column goes (an
#: event is decided before its scene is), the track of an enter or leave comes.
MIGRATIONS: dict[int, tuple[str | AddColumn | DropColumn, ...]] = {
    2: (AddColumn(SCENES_TABLE, "tags", "Array(String)"),),
    3: (AddColumn(SCENES_TABLE, "people", "Array(String)"),
        AddColumn(SCENES_TABLE, "description", "String")),
    4: (),
    5: ("DROP TABLE IF EXISTS stream_state",),
    6: (AddColumn(STREAMS_TABLE, "status", "String DEFAULT 'complete'"),
        AddColumn(STREAMS_TABLE, "status_reason", "String")),
    7: (DropColumn(EVENTS_TABLE, "scene_index"), AddColumn(EVENTS_TABLE, "track_id", "UInt64")),
}

CREATE_STATEMENTS: tuple[str, ...] = (
    CREATE_META, CREATE_STREAMS, CREATE_SCENES, CREATE_DETECTIONS, CREATE_TRACKS, CREATE_EVENTS,
    CREATE_PEOPLE,
)

STREAM_COLUMNS: tuple[str, ...] = (
    "stream_id", "source", "codec", "width", "height", "fps", "frames", "duration_s",
    "model_version", "indexed_at", "status", "status_reason",
)
SCENE_COLUMNS: tuple[str, ...] = (
    "row_id", "stream_id", "scene_index", "start_s", "end_s", "start_frame", "end_frame",
    "model_version", "written_at", "tags", "people", "description",
)
DETECTION_COLUMNS: tuple[str, ...] = (
    "row_id", "stream_id", "frame", "rank", "t_s", "class", "score", "x1", "y1", "x2", "y2",
    "track_id", "model_version", "written_at",
)
TRACK_COLUMNS: tuple[str, ...] = (
    "row_id", "stream_id", "track_id", "scene_index", "class", "person_id", "first_frame",
    "last_frame", "first_s", "last_s", "detections", "model_version", "written_at",
)
EVENT_COLUMNS: tuple[str, ...] = (
    "row_id", "stream_id", "frame", "t_s", "kind", "person_id", "people", "model_version",
    "written_at", "track_id",
)
PERSON_COLUMNS: tuple[str, ...] = (
    "model_version", "person_id", "exemplars", "dim", "tracklets", "first_stream", "first_s",
    "last_stream", "last_s", "version", "updated_at",
)
#: tables whose rows carry a deterministic row_id (the writer skips IDs already stored)
ROW_ID_TABLES: tuple[str, ...] = (SCENES_TABLE, DETECTIONS_TABLE, TRACKS_TABLE, EVENTS_TABLE)
