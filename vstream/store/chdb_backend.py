"""The embedded store: chDB (the ClickHouse engine in this process), data in one directory.

chDB runs ONE embedded server per process, bound to the first directory it opens. Measured with
chdb 4.4 (engine 26.9): a second `Session` on the same path works and shares the data; a
`Session` on a different path raises ``RuntimeError: ... EmbeddedServer already initialized with
path '/a', cannot connect with different path '/b'`` until every session on '/a' is closed.
So sessions are cached per path and reference-counted here: `ChdbBackend`s on one directory
share a session, the last `close()` closes it, and asking for a second directory while one is
open raises a `StoreError` that says which one is open.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from vstream.errors import StoreError
from urllib.parse import urlencode

from vstream.store.backend import (
    Backend, QueryResult, RowStream, check_identifier, one_line, sql_literal,
)
from vstream.store.readonly import EngineStatement, check_table_functions

# Set once per session. JSONCompact gives column names and types with the rows; these settings
# make the values exact: inf/nan as strings (else JSON null), UInt64 as bare numbers (Python's
# json reads them exactly), DateTime as unix seconds (so the column's time zone cannot matter).
_OUTPUT_SETTINGS = {
    "output_format_json_quote_denormals": 1,
    "output_format_json_quote_64bit_integers": 0,
    "date_time_output_format": "unix_timestamp",
}
_SESSION_SETTINGS = tuple(f"SET {name} = {sql_literal(value)}"
                          for name, value in _OUTPUT_SETTINGS.items())
# Set where the engine has them (chDB builds before ClickHouse 25.3 do not). The writer asks for
# each batch's row IDs once (`ClickHouseWriter._stored_row_ids`); the query condition cache keeps
# an entry per part for every such condition, never hit again, so a worker's process grew with
# its batches until the cache's 100 MiB (docs/benchmarks.md, "Analysis rate": three hours).
_IF_KNOWN_SETTINGS = {"use_query_condition_cache": 0}
# A user query's rows: names, types, then one JSON array per row, block by block.
_STREAM_FORMAT = "JSONCompactEachRowWithNamesAndTypes"


class _SharedSession:
    """One chDB session and the number of backends using it."""

    def __init__(self, path: str) -> None:
        from chdb import session  # imported late: loading the engine takes ~0.5 s

        self.path = path
        self.session = session.Session(path)
        self.users = 0
        # chDB's session is not documented as thread-safe; serialise queries on it.
        self.lock = threading.Lock()


_sessions: dict[str, _SharedSession] = {}
_sessions_lock = threading.Lock()


def _acquire(path: str) -> _SharedSession:
    """The shared session for `path`, opened on first use; counts one more user."""
    with _sessions_lock:
        shared = _sessions.get(path)
        if shared is None:
            if _sessions:
                other = next(iter(_sessions))
                raise StoreError(
                    f"chDB can open one store directory per process; {other} is open, so "
                    f"{path} cannot be: close the other store first or use a clickhouse:// server"
                )
            shared = _open_session(path)
            _sessions[path] = shared
        shared.users += 1
        return shared


def _open_session(path: str) -> _SharedSession:
    try:
        with _engine_stderr() as said:
            shared = _SharedSession(path)
    except Exception as ex:  # chDB raises RuntimeError/ChdbError for every failure
        if "Cannot lock file" in said.text or "Another server instance" in said.text:
            raise StoreError(
                f"another process holds the chDB store {path}{_holder(path)}: chDB lets one "
                f"process use a store at a time; wait for it, stop it, or use a clickhouse:// "
                f"server for several processes") from ex
        reason = one_line(str(ex)).removesuffix(": . (BAD_ARGUMENTS)")
        found = one_line(said.text)
        raise StoreError(f"cannot open chDB store {path}: {found or reason}") from ex
    try:
        for setting in _SESSION_SETTINGS:
            shared.session.query(setting)
        known = shared.session.query(
            "SELECT name FROM system.settings WHERE name IN "
            f"({', '.join(sql_literal(name) for name in _IF_KNOWN_SETTINGS)})", "TSVRaw")
        for name in known.data().split():
            shared.session.query(f"SET {name} = {sql_literal(_IF_KNOWN_SETTINGS[name])}")
    except Exception as ex:
        shared.session.close()
        raise StoreError(f"cannot configure chDB store {path}: {one_line(str(ex))}") from ex
    return shared


class _Said:
    text = ""


@contextlib.contextmanager
def _engine_stderr() -> Iterator[_Said]:
    """Capture what the engine writes straight to file descriptor 2 while opening (chDB prints
    why it failed there, e.g. a lock held by another process, and raises with an empty reason),
    so it becomes the reason of one StoreError line instead of raw text above it."""
    said = _Said()
    with tempfile.TemporaryFile(mode="w+b") as capture:
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        try:
            yield said
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            said.text = capture.read().decode(errors="replace").strip()


def _holder(path: str) -> str:
    """' (pid N)' from the engine's status file in `path`, when it says."""
    try:
        status = Path(path, "status").read_text(errors="replace")
    except OSError:
        return ""
    for line in status.splitlines():
        if line.startswith("PID:"):
            return f" (pid {line.split(':', 1)[1].strip()})"
    return ""


def _release(shared: _SharedSession) -> None:
    """Count one user fewer; close the session when none is left."""
    with _sessions_lock:
        shared.users -= 1
        if shared.users == 0:
            del _sessions[shared.path]
            shared.session.close()


class ChdbBackend(Backend):
    """A `Backend` on a chDB directory (created if missing)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        resolved = Path(path).expanduser().resolve()
        try:
            resolved.mkdir(parents=True, exist_ok=True)
        except OSError as ex:
            raise StoreError(f"cannot create chDB store directory {resolved}: {ex.strerror}") from ex
        self.url = f"chdb://{resolved}"
        self._shared: _SharedSession | None = _acquire(str(resolved))

    def _run(self, sql: str) -> str:
        shared = self._shared
        if shared is None:
            raise StoreError(f"store {self.url} is closed")
        try:
            with shared.lock:
                result = shared.session.query(sql, "JSONCompact")
        except Exception as ex:
            raise StoreError(one_line(str(ex))) from ex
        return result.data()

    def execute(self, sql: str) -> None:
        """Run one statement that returns no rows."""
        self._run(sql)

    def query(self, sql: str) -> QueryResult:
        """Run one SELECT-like statement and return its rows."""
        text = self._run(sql)
        if not text.strip():
            return QueryResult(columns=[], rows=[])
        payload = json.loads(text)
        meta = payload["meta"]
        converters = [_converter(column["type"]) for column in meta]
        rows = [
            tuple(convert(value) for convert, value in zip(converters, row, strict=True))
            for row in payload["data"]
        ]
        return QueryResult(columns=[column["name"] for column in meta], rows=rows)

    def stream_readonly(self, statement: EngineStatement, *, timeout_s: float) -> RowStream:
        """Run a user's statement in a session of its own opened with ``readonly=1``.

        The writer's session cannot be made read-only (it writes), and ``SET readonly`` inside
        it would be per session anyway; a start-up setting of a second session on the same
        directory holds for every statement sent through it and cannot be lifted by one
        (``Cannot modify 'readonly' setting in readonly mode``). Checked with chdb 4.4.
        """
        from chdb import session

        if self._shared is None:
            raise StoreError(f"store {self.url} is closed")
        settings = {"readonly": 1, "max_execution_time": math.ceil(timeout_s),
                    **_OUTPUT_SETTINGS}
        try:
            reader = session.Session(f"{self._shared.path}?{urlencode(settings)}")
        except Exception as ex:
            raise StoreError(f"cannot open a read-only session on {self.url}: "
                             f"{one_line(str(ex))}") from ex
        try:
            check_table_functions(reader.query(f"EXPLAIN AST {statement.query}", "TSVRaw").data())
            result = reader.send_query(statement.sql, _STREAM_FORMAT)
            blocks_left = _blocks(result)
            names, types, first = next(blocks_left, ("[]", "[]", []))
        except BaseException as ex:
            reader.close()
            if isinstance(ex, Exception) and not isinstance(ex, StoreError):
                raise StoreError(one_line(_reason(ex))) from ex
            raise
        convert = _block_converter(json.loads(types))

        def blocks() -> Iterator[list[tuple[Any, ...]]]:
            try:
                for lines in itertools.chain([first], (lines for _, _, lines in blocks_left)):
                    # one json.loads per block, not per row: the rows cost C time, not Python
                    yield convert(json.loads("[" + ",".join(lines) + "]"))
            except StoreError:
                raise
            except Exception as ex:
                raise StoreError(one_line(_reason(ex))) from ex
            finally:
                reader.close()

        return RowStream(columns=json.loads(names), blocks=blocks(), cancel=result.cancel)

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """Insert rows with one ``INSERT ... VALUES`` statement (chDB has no bound parameters
        for INSERT data, so values are written as escaped literals)."""
        check_identifier(table)
        names = ", ".join(check_identifier(column) for column in columns)
        values = [f"({', '.join(sql_literal(value) for value in row)})" for row in rows]
        if not values:
            return 0
        self.execute(f"INSERT INTO {table} ({names}) VALUES {', '.join(values)}")
        return len(values)

    def close(self) -> None:
        """Release this backend's share of the session; the last one closes it."""
        if self._shared is not None:
            shared, self._shared = self._shared, None
            _release(shared)

    def __repr__(self) -> str:
        return f"ChdbBackend({self.url!r})"


def _blocks(result: Any) -> Iterator[tuple[str, str, list[str]]]:
    """(names, types, row lines) of each block of a chDB streaming result in `_STREAM_FORMAT`:
    chDB formats every block whole, with the names and types lines at its head (chdb 4.4)."""
    for chunk in result:
        names, types, *rows = chunk.data().split("\n")
        yield names, types, [line for line in rows if line]


def _reason(ex: BaseException) -> str:
    # chDB prefixes streaming failures; the engine's own sentence is what a user needs.
    return str(ex).removeprefix("Streaming query failed: ") or type(ex).__name__


def _block_converter(types: list[str]) -> Any:
    """A function turning a block's JSON rows (lists) into tuples of Python values; columns
    whose JSON value already is the Python value (ints, strings, arrays) are left as they are."""
    fixes = [(i, _converter(t)) for i, t in enumerate(types) if _needs_conversion(t)]

    def convert(rows: list[list[Any]]) -> list[tuple[Any, ...]]:
        for row in rows:
            for i, fix in fixes:
                row[i] = fix(row[i])
        return [tuple(row) for row in rows]

    return convert


def _needs_conversion(ch_type: str) -> bool:
    inner = ch_type.removeprefix("Nullable(").removesuffix(")")
    return inner.startswith(("Float", "DateTime", "Date"))


def _converter(ch_type: str) -> Any:
    """A function turning one JSONCompact value of ClickHouse type `ch_type` into Python."""
    if ch_type.startswith("Nullable(") and ch_type.endswith(")"):
        inner = _converter(ch_type[len("Nullable(") : -1])
        return lambda value: None if value is None else inner(value)
    if ch_type.startswith(("Int", "UInt")):
        return int
    if ch_type.startswith("Float"):
        return float  # quoted denormals arrive as "inf", "-inf", "nan"; float() reads them
    if ch_type == "DateTime" or ch_type.startswith("DateTime("):
        return lambda value: datetime.fromtimestamp(int(value), timezone.utc)
    if ch_type in ("Date", "Date32"):
        return date.fromisoformat
    return lambda value: value  # strings, arrays, maps: JSON already gives the Python shape
