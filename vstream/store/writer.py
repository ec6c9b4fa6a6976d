"""ClickHouseWriter: idempotent, batched writes of vstream rows, and the reads vstream needs.

Idempotent means: writing the same rows again (a re-indexed file, a replayed Kafka chunk) adds
nothing, visible to a plain ``SELECT count()`` at once. ReplacingMergeTree would collapse
duplicates only at some later merge, so the writer asks which row IDs are already stored and
inserts only the others.

This assumes one writer per stream at a time, which the pipeline guarantees (a stream's chunks
share a Kafka key, so one worker owns it). Two writers racing on one stream could both see a
row as missing and both insert it; the tables' ReplacingMergeTree keys would still collapse
those copies on merge.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import astuple, replace
from typing import Any

from vstream.config import DEFAULT_QUERY_TIMEOUT_S
from vstream.errors import StoreError
from vstream.store import schema
from vstream.store.backend import Backend, QueryResult, RowStream, sql_literal
from vstream.store.migrate import ensure_schema
from vstream.store.readonly import engine_statement
from vstream.store.rows import (
    DetectionRow, EventRow, PersonRow, SceneRow, StreamRow, TrackRow, utc_now,
)

DEFAULT_BATCH_SIZE = 1000
# How long write_stream waits for the server to apply the DELETE of a replaced stream row.
_REPLACE_TIMEOUT_S = 30.0


class ClickHouseWriter:
    """Writes and reads vstream rows through a `Backend` (chDB or a server).

    `batch_size` bounds both the rows per INSERT and the row IDs per "already stored?" lookup
    (the lookup's IN list is SQL text, so it must stay well under ClickHouse's 256 KiB default
    max_query_size: 1000 IDs are about 20 KiB).
    """

    def __init__(self, backend: Backend, *, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.backend = backend
        self.batch_size = batch_size

    @property
    def url(self) -> str:
        """The store's URL, safe to print (password shown as ***)."""
        return self.backend.url

    # -- schema -------------------------------------------------------------------------------

    def ensure_schema(self) -> int:
        """Create missing tables and bring an older store up to date (`migrate.ensure_schema`);
        returns the store's schema version."""
        return ensure_schema(self.backend)

    # -- streams ------------------------------------------------------------------------------

    def write_stream(self, row: StreamRow) -> bool:
        """Store `row` as THE row of its stream_id; return True if the table changed.

        Policy: one row per stream_id, replaced explicitly. If the stored row equals `row`
        (ignoring indexed_at), nothing is written (False). If it differs (re-indexed with a new
        model, say), the old row is deleted and `row` inserted (True), so the streams table
        always describes the latest indexing and a plain count never sees two rows.
        """
        row = row if row.indexed_at is not None else replace(row, indexed_at=utc_now())
        stored = self.stream(row.stream_id)
        if stored is not None:
            if replace(stored, indexed_at=None) == replace(row, indexed_at=None):
                return False
            self._delete_stream_row(row.stream_id)
        self.backend.insert(schema.STREAMS_TABLE, schema.STREAM_COLUMNS, [astuple(row)])
        return True

    def _delete_stream_row(self, stream_id: str) -> None:
        # ALTER ... DELETE is the only DELETE 18.16 has. It is a mutation, applied in the
        # background on a server (mutations_sync does not exist in 18.16), so wait until the
        # row is really gone: inserting first would leave a window with two rows.
        where = f"stream_id = {sql_literal(stream_id)}"
        self.backend.execute(f"ALTER TABLE {schema.STREAMS_TABLE} DELETE WHERE {where}")
        self._wait_deleted([schema.STREAMS_TABLE], where, f"stream {stream_id!r}")

    def delete_stream_rows(self, stream_id: str, model_version: str) -> None:
        """Delete the scenes, detections, tracks and events of `stream_id` by `model_version`
        (not its streams row, not the people), and wait until they are gone: before a stream
        stored in part is indexed again, since the new run's rows may end differently (a scene
        the end of the data cut short) and rows already stored are skipped, never rewritten."""
        where = (f"stream_id = {sql_literal(stream_id)} "
                 f"AND model_version = {sql_literal(model_version)}")
        tables = [t for t in schema.ROW_ID_TABLES if self._count(t, where)]
        for table in tables:
            self.backend.execute(f"ALTER TABLE {table} DELETE WHERE {where}")
        self._wait_deleted(tables, where, f"the rows of stream {stream_id!r}")

    def _wait_deleted(self, tables: Sequence[str], where: str, what: str) -> None:
        # ALTER ... DELETE is a mutation, applied in the background on a server
        # (mutations_sync does not exist in 18.16): wait until no row matches.
        deadline = time.monotonic() + _REPLACE_TIMEOUT_S
        while any(self._count(table, where) for table in tables):
            if time.monotonic() > deadline:
                raise StoreError(
                    f"store {self.backend.url} did not apply the DELETE of {what} "
                    f"within {_REPLACE_TIMEOUT_S:.0f} s (see system.mutations)"
                )
            time.sleep(0.05)

    def stream(self, stream_id: str) -> StreamRow | None:
        """The stored row of `stream_id`, or None."""
        columns = ", ".join(schema.STREAM_COLUMNS)
        result = self.backend.query(
            f"SELECT {columns} FROM {schema.STREAMS_TABLE} "
            f"WHERE stream_id = {sql_literal(stream_id)} ORDER BY indexed_at DESC LIMIT 1"
        )
        return StreamRow(*result.rows[0]) if result.rows else None

    # -- scenes -------------------------------------------------------------------------------

    def write_scenes(self, rows: Iterable[SceneRow]) -> int:
        """Store scenes, skipping any whose row_id is already stored; return how many were new.

        Rows without written_at get the write time. Rows are written in batches of
        `batch_size`; a failure part-way leaves earlier batches stored, and calling again with
        the same rows completes the write without duplicating them.
        """
        return self._write_new(schema.SCENES_TABLE, schema.SCENE_COLUMNS, rows, _scene_values)

    def write_detections(self, rows: Iterable[DetectionRow]) -> int:
        """Store detections, skipping stored row IDs (as `write_scenes`); return how many were new."""
        return self._write_new(schema.DETECTIONS_TABLE, schema.DETECTION_COLUMNS, rows,
                               DetectionRow.values)

    def write_tracks(self, rows: Iterable[TrackRow]) -> int:
        """Store tracklets, skipping stored row IDs (as `write_scenes`); return how many were new."""
        return self._write_new(schema.TRACKS_TABLE, schema.TRACK_COLUMNS, rows, TrackRow.values)

    def write_events(self, rows: Iterable[EventRow]) -> int:
        """Store events, skipping stored row IDs (as `write_scenes`); return how many were new."""
        return self._write_new(schema.EVENTS_TABLE, schema.EVENT_COLUMNS, rows, EventRow.values)

    def _write_new(self, table: str, columns: Sequence[str], rows: Iterable, values) -> int:
        now = utc_now()
        pending: dict[int, Any] = {}
        for row in rows:
            # Same row_id twice in one call: keep the first, like a second call would.
            pending.setdefault(row.row_id, row if row.written_at else replace(row, written_at=now))
        written = 0
        batch_rows = list(pending.values())
        for start in range(0, len(batch_rows), self.batch_size):
            batch = batch_rows[start : start + self.batch_size]
            stored = self._stored_row_ids(table, batch)
            new = [row for row in batch if row.row_id not in stored]
            if new:
                written += self.backend.insert(table, columns, [values(row) for row in new])
        return written

    def _stored_row_ids(self, table: str, batch: Sequence[Any]) -> set[int]:
        # Filtering on stream_id too lets ClickHouse use the ORDER BY key's first column.
        stream_ids = ", ".join(sql_literal(s) for s in sorted({row.stream_id for row in batch}))
        row_ids = ", ".join(str(row.row_id) for row in batch)
        result = self.backend.query(
            f"SELECT row_id FROM {table} WHERE stream_id IN ({stream_ids}) AND row_id IN ({row_ids})"
        )
        return {row[0] for row in result.rows}

    def scenes_of(self, stream_id: str, model_version: str | None = None) -> list[SceneRow]:
        """The scenes of `stream_id` by one model, ordered by scene_index.

        `model_version=None` means the latest: the one in the stream's `streams` row (written at
        each indexing), or, when there is no such row, the version of the most recently written
        scene (ties, within one second, go to the greater version string).
        """
        if model_version is None:
            model_version = self._latest_model_version(stream_id)
            if model_version is None:
                return []
        columns = ", ".join(schema.SCENE_COLUMNS)
        result = self.backend.query(
            f"SELECT {columns} FROM {schema.SCENES_TABLE} "
            f"WHERE stream_id = {sql_literal(stream_id)} "
            f"AND model_version = {sql_literal(model_version)} ORDER BY scene_index"
        )
        scenes = []
        for values in result.rows:
            named = dict(zip(schema.SCENE_COLUMNS, values, strict=True))
            # SceneRow checks the stored row_id against the row's content.
            scenes.append(SceneRow(**named))
        return scenes

    def _latest_model_version(self, stream_id: str) -> str | None:
        stream = self.stream(stream_id)
        if stream is not None:
            return stream.model_version
        result = self.backend.query(
            f"SELECT model_version FROM {schema.SCENES_TABLE} "
            f"WHERE stream_id = {sql_literal(stream_id)} "
            f"ORDER BY written_at DESC, model_version DESC LIMIT 1"
        )
        return result.rows[0][0] if result.rows else None

    # -- people -------------------------------------------------------------------------------

    def write_people(self, rows: Iterable[PersonRow]) -> int:
        """Store the newest state of gallery people; a person's row with a higher `version`
        supersedes the older ones (read through `people`). Returns the rows written."""
        now = utc_now()
        rows = [row if row.updated_at else replace(row, updated_at=now) for row in rows]
        if not rows:
            return 0
        return self.backend.insert(schema.PEOPLE_TABLE, schema.PERSON_COLUMNS,
                                   [row.values() for row in rows])

    def people(self, model_version: str) -> list[PersonRow]:
        """The gallery of `model_version`: the newest row of each person, ordered by number."""
        fields = [c for c in schema.PERSON_COLUMNS if c not in ("model_version", "person_id", "version")]
        picks = ", ".join(f"argMax({c}, version)" for c in fields)
        result = self.backend.query(
            f"SELECT person_id, {picks}, max(version) FROM {schema.PEOPLE_TABLE} "
            f"WHERE model_version = {sql_literal(model_version)} GROUP BY person_id"
        )
        people = []
        for values in result.rows:
            named = dict(zip(["person_id", *fields, "version"], values, strict=True))
            flat, dim = list(named.pop("exemplars")), int(named.pop("dim"))
            exemplars = tuple(tuple(flat[i : i + dim]) for i in range(0, len(flat), dim)) if dim else ()
            people.append(PersonRow(model_version=model_version, exemplars=exemplars, **named))
        return sorted(people, key=lambda p: (len(p.person_id), p.person_id))

    # -- analysis reads -----------------------------------------------------------------------

    def tracks_of(self, stream_id: str, model_version: str) -> list[TrackRow]:
        """The tracklets of a stream by one model, in time order."""
        return [TrackRow(**r) for r in self._select(schema.TRACKS_TABLE, schema.TRACK_COLUMNS,
                                                    stream_id, model_version, "first_frame, track_id")]

    def events_of(self, stream_id: str, model_version: str) -> list[EventRow]:
        """The events of a stream by one model, in time order."""
        return [EventRow(**r) for r in self._select(schema.EVENTS_TABLE, schema.EVENT_COLUMNS,
                                                    stream_id, model_version, "frame, kind, person_id")]

    def _select(self, table: str, columns: Sequence[str], stream_id: str, model_version: str,
                order: str) -> list[dict[str, Any]]:
        result = self.backend.query(
            f"SELECT {', '.join(columns)} FROM {table} WHERE stream_id = {sql_literal(stream_id)} "
            f"AND model_version = {sql_literal(model_version)} ORDER BY {order}"
        )
        renamed = ["class_name" if c == "class" else c for c in columns]
        return [dict(zip(renamed, values, strict=True)) for values in result.rows]

    # -- user SQL -----------------------------------------------------------------------------

    def stream_readonly(self, sql: str, *, timeout_s: float = DEFAULT_QUERY_TIMEOUT_S) -> RowStream:
        """Run a user's query where the engine refuses anything but reading (see
        `vstream.store.readonly`); its rows stream as the engine sends them.

        Raises ReadOnlyQueryError with a friendly line for the usual mistakes (a DROP, a second
        statement) before the engine sees them, StoreError for what the engine refuses.
        """
        return self.backend.stream_readonly(engine_statement(sql), timeout_s=timeout_s)

    def query_readonly(self, sql: str, *, timeout_s: float = DEFAULT_QUERY_TIMEOUT_S) -> QueryResult:
        """`stream_readonly`, all rows collected: for results known to be small."""
        found = self.stream_readonly(sql, timeout_s=timeout_s)
        return QueryResult(columns=found.columns, rows=list(found.rows()))

    def count(self, table: str) -> int:
        """Rows in `table` as a plain ``SELECT count()`` sees them (no FINAL)."""
        return self._count(table, "1")

    def _count(self, table: str, where: str) -> int:
        if table not in (schema.META_TABLE, schema.STREAMS_TABLE, schema.PEOPLE_TABLE, *schema.ROW_ID_TABLES):
            raise ValueError(f"unknown table {table!r}")
        return int(self.backend.query(f"SELECT count() FROM {table} WHERE {where}").scalar())

    def close(self) -> None:
        """Close the backend."""
        self.backend.close()

    def __enter__(self) -> ClickHouseWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _scene_values(row: SceneRow) -> tuple[Any, ...]:
    """`row` as a tuple in `schema.SCENE_COLUMNS` order (row_id first)."""
    return (
        row.row_id, row.stream_id, row.scene_index, row.start_s, row.end_s, row.start_frame,
        row.end_frame, row.model_version, row.written_at, list(row.tags), list(row.people),
        row.description,
    )
