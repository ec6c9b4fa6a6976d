"""The vstream store: ClickHouse, embedded (chDB) or a server, behind one writer.

    from vstream.store import open_store
    with open_store("chdb:///tmp/vs") as store:          # or clickhouse://user:pw@host:9000/db
        store.write_scenes(rows)
        store.query_readonly("SELECT count() FROM scenes")
"""

from __future__ import annotations

from vstream.store.backend import Backend, QueryResult
from vstream.store.rows import (
    DetectionRow, EventRow, PersonRow, SceneRow, StreamRow, TrackRow, row_id_for,
)
from vstream.store.schema import SCHEMA_VERSION
from vstream.store.url import StoreURL, default_store_url
from vstream.store.writer import ClickHouseWriter

__all__ = [
    "SCHEMA_VERSION",
    "Backend",
    "ClickHouseWriter",
    "DetectionRow",
    "EventRow",
    "PersonRow",
    "QueryResult",
    "SceneRow",
    "TrackRow",
    "StoreURL",
    "StreamRow",
    "default_store_url",
    "open_backend",
    "open_store",
    "row_id_for",
]


def open_backend(url: str | StoreURL | None = None) -> Backend:
    """Connect to the store at `url` (None: `default_store_url()`), without touching tables."""
    if url is None:
        parsed = default_store_url()
    elif isinstance(url, StoreURL):
        parsed = url
    else:
        parsed = StoreURL.parse(url)
    # Imported here so using one backend never loads the other's library.
    if parsed.is_embedded:
        from vstream.store.chdb_backend import ChdbBackend

        return ChdbBackend(parsed.path)
    from vstream.store.server_backend import ServerBackend

    return ServerBackend(parsed)


def open_store(url: str | StoreURL | None = None, *, batch_size: int | None = None) -> ClickHouseWriter:
    """Open the store at `url` (None: `default_store_url()`) and make sure its tables exist.

    Raises ValueError for a malformed URL and StoreError when the store cannot be reached or
    its schema is newer than this vstream.
    """
    backend = open_backend(url)
    options = {} if batch_size is None else {"batch_size": batch_size}
    writer = ClickHouseWriter(backend, **options)
    try:
        writer.ensure_schema()
    except BaseException:
        backend.close()
        raise
    return writer
