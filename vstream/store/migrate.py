"""The store's schema, created and migrated: `ensure_schema` on every open.

Tables are created with CREATE ... IF NOT EXISTS (`schema.CREATE_STATEMENTS`), which leaves an
older table as it is; `schema.MIGRATIONS` then brings a store from its recorded version up to
`schema.SCHEMA_VERSION`, one step at a time, each step safe to repeat (a column step checks
`system.columns` first), so an upgrade interrupted part-way is completed by the next open.
"""

from __future__ import annotations

from vstream.errors import StoreError
from vstream.store import schema
from vstream.store.backend import Backend, sql_literal
from vstream.store.rows import utc_now


def ensure_schema(backend: Backend) -> int:
    """Create missing tables and record `schema.SCHEMA_VERSION`; safe to call any number of
    times. Returns the store's schema version.

    Raises StoreError when the store was made by a newer vstream (a higher version), since
    this code would not know its tables.
    """
    # The version check comes first: CREATE ... IF NOT EXISTS leaves an older table as it is,
    # and the migrations below bring it up to date.
    backend.execute(schema.CREATE_META)
    stored = _stored_schema_version(backend)
    if stored is not None and stored > schema.SCHEMA_VERSION:
        raise StoreError(
            f"store {backend.url} has schema version {stored}, newer than this vstream's "
            f"{schema.SCHEMA_VERSION}: upgrade vstream"
        )
    for statement in schema.CREATE_STATEMENTS:
        backend.execute(statement)
    if stored == schema.SCHEMA_VERSION:
        return stored
    if stored is not None:
        for version in range(stored + 1, schema.SCHEMA_VERSION + 1):
            for step in schema.MIGRATIONS.get(version, ()):
                if isinstance(step, schema.AddColumn | schema.DropColumn):
                    present = step.column in _columns(backend, step.table)
                    if present == isinstance(step, schema.AddColumn):
                        continue
                    step = step.sql
                backend.execute(step)
    backend.insert(
        schema.META_TABLE,
        ("key", "value", "updated_at"),
        [("schema_version", str(schema.SCHEMA_VERSION), utc_now())],
    )
    return schema.SCHEMA_VERSION


def _columns(backend: Backend, table: str) -> set[str]:
    result = backend.query(
        "SELECT name FROM system.columns WHERE database = currentDatabase() "
        f"AND table = {sql_literal(table)}")
    return {row[0] for row in result.rows}


def _stored_schema_version(backend: Backend) -> int | None:
    # Versions only grow; the highest is the store's (two rows written within one second
    # would tie on updated_at).
    result = backend.query(
        f"SELECT value FROM {schema.META_TABLE} WHERE key = 'schema_version' "
        f"ORDER BY toUInt32(value) DESC LIMIT 1"
    )
    if not result.rows:
        return None
    value = result.rows[0][0]
    try:
        return int(value)
    except ValueError:
        raise StoreError(
            f"store {backend.url} has a bad schema_version {value!r} in {schema.META_TABLE}"
        ) from None
