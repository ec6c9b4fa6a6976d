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

Tables still to come, each with ``stream_id``, media time in seconds, wall-clock time for live
sources, ``model_version`` and a deterministic ``row_id``:
``detections`` (per sampled frame: box, class, score, track), ``tracks`` (first/last seen per
track), ``people`` (stable person IDs: first/last seen, embedding) and ``events`` (person
enters/leaves, scene starts, counts change). Adding one bumps `SCHEMA_VERSION`.
"""

from __future__ import annotations

SCHEMA_VERSION = 2

META_TABLE = "vstream_meta"
STREAMS_TABLE = "streams"
SCENES_TABLE = "scenes"

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
    indexed_at DateTime('UTC')
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
    tags Array(String)
) ENGINE = ReplacingMergeTree(written_at)
PARTITION BY tuple()
ORDER BY (stream_id, model_version, start_frame)
"""

#: Statements that bring a store from version N-1 to N, keyed by N. Version 2 added the
#: scene tags (a store written by version 1 reads back with no tags).
MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: (f"ALTER TABLE {SCENES_TABLE} ADD COLUMN tags Array(String)",),
}

CREATE_STATEMENTS: tuple[str, ...] = (CREATE_META, CREATE_STREAMS, CREATE_SCENES)

STREAM_COLUMNS: tuple[str, ...] = (
    "stream_id", "source", "codec", "width", "height", "fps", "frames", "duration_s",
    "model_version", "indexed_at",
)
SCENE_COLUMNS: tuple[str, ...] = (
    "row_id", "stream_id", "scene_index", "start_s", "end_s", "start_frame", "end_frame",
    "model_version", "written_at", "tags",
)
