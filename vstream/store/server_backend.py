"""The server store: a ClickHouse server over the native protocol (clickhouse-driver).

Works with ClickHouse 18.16 (Debian's package, what the tests run) through current releases.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vstream.errors import StoreError
from vstream.store.backend import Backend, QueryResult, RowStream, check_identifier, one_line
from vstream.store.readonly import EngineStatement, check_table_functions
from vstream.store.url import StoreURL

DEFAULT_CONNECT_TIMEOUT_S = 5.0

# clickhouse-driver logs each failed connection attempt as a WARNING with a full traceback. In
# an application that configured no logging, Python's last-resort handler prints that to stderr
# next to our one-line StoreError. A NullHandler stops only that fallback; an application that
# does configure logging still receives the records.
logging.getLogger("clickhouse_driver").addHandler(logging.NullHandler())


class ServerBackend(Backend):
    """A `Backend` on a ClickHouse server; connects (and checks the credentials) at once, so a
    wrong URL fails when the store is opened, not at the first write."""

    def __init__(self, url: StoreURL, *, connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S) -> None:
        from clickhouse_driver import Client

        if url.scheme != "clickhouse":
            raise ValueError(f"ServerBackend needs a clickhouse:// URL, got {url}")
        self.url = str(url)  # password already redacted by StoreURL.__str__
        self._password = url.password
        self._client: Any = Client(
            host=url.host,
            port=url.port,
            database=url.database,
            user=url.user,
            password=url.password,
            connect_timeout=connect_timeout_s,
            client_name="vstream",
        )
        try:
            self._client.connection.connect()
            server_tz = self._client.connection.server_info.timezone
        except Exception as ex:
            self._client.disconnect()
            raise self._error(ex, f"cannot connect to {self.url}") from ex
        self._server_tz = _zone(server_tz)

    def _error(self, ex: BaseException, context: str = "") -> StoreError:
        message = one_line(str(ex) or type(ex).__name__, secrets=[self._password])
        return StoreError(f"{context}: {message}" if context else message)

    def _call(self, sql: str, data: Any = None) -> Any:
        # Only clickhouse-driver's own errors and socket errors are the store's failures;
        # anything else (a TypeError from bad row values) is a caller bug and propagates as is.
        from clickhouse_driver import errors

        try:
            if data is None:
                return self._client.execute(sql, with_column_types=True)
            return self._client.execute(sql, data)
        except (errors.Error, OSError, EOFError) as ex:
            raise self._error(ex) from ex

    def execute(self, sql: str) -> None:
        """Run one statement that returns no rows."""
        self._call(sql)

    def query(self, sql: str) -> QueryResult:
        """Run one SELECT-like statement and return its rows."""
        rows, column_types = self._call(sql)
        fixes = _datetime_columns(column_types)
        if fixes and rows:
            rows = [self._fix_datetimes(row, fixes) for row in rows]
        return QueryResult(columns=[name for name, _ in column_types], rows=[tuple(r) for r in rows])

    def stream_readonly(self, statement: EngineStatement, *, timeout_s: float) -> RowStream:
        """Run a user's statement with ``readonly=1`` sent as a query setting: the server
        refuses writes, setting changes (``readonly`` itself included) and table functions
        (18.16 refuses them all, numbers() included: use system.numbers there).
        Rows arrive block by block (`Client.execute_iter`); `cancel` drops the connection.

        Table functions are checked first where the server has ``EXPLAIN AST`` (20.6 and
        later); older servers have neither EXPLAIN nor the sqlite() that needs the check.
        """
        from clickhouse_driver import errors

        # max_execution_time first: once readonly=1 applies, no setting can change.
        settings = {"max_execution_time": max(1, math.ceil(timeout_s)), "readonly": 1}
        try:
            connection = self._client.connection
            if not connection.connected:  # (force_connect would mark a query as running)
                connection.connect()
            info = connection.server_info
            if (info.version_major, info.version_minor) >= (20, 6):
                ast, _ = self._client.execute(f"EXPLAIN AST {statement.query}",
                                              with_column_types=True, settings=settings)
                check_table_functions("\n".join(line for (line,) in ast))
            found = self._client.execute_iter(statement.sql, with_column_types=True,
                                              settings=settings)
            column_types = next(found)
        except (errors.Error, OSError, EOFError) as ex:
            self._client.disconnect()  # the next query must not meet this one's leftovers
            raise self._error(ex) from ex
        fixes = _datetime_columns(column_types)

        def rows() -> Iterator[tuple[Any, ...]]:
            done = False
            try:
                for row in found:
                    yield self._fix_datetimes(row, fixes) if fixes else tuple(row)
                done = True
            except (errors.Error, OSError, EOFError) as ex:
                raise self._error(ex) from ex
            finally:
                if not done:  # failed or left part-way: drop what the server still sends
                    self._client.disconnect()

        return RowStream(columns=[name for name, _ in column_types], rows=rows(),
                         cancel=self._client.disconnect)

    def _fix_datetimes(self, row: tuple[Any, ...], positions: list[int]) -> tuple[Any, ...]:
        values = list(row)
        for i in positions:
            value = values[i]
            if isinstance(value, datetime) and value.tzinfo is None:
                values[i] = value.replace(tzinfo=self._server_tz).astimezone(timezone.utc)
        return tuple(values)

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """Insert rows as one native-protocol block (values travel typed, no SQL escaping)."""
        check_identifier(table)
        names = ", ".join(check_identifier(column) for column in columns)
        batch = [tuple(row) for row in rows]
        if not batch:
            return 0
        self._call(f"INSERT INTO {table} ({names}) VALUES", data=batch)
        return len(batch)

    def close(self) -> None:
        """Disconnect from the server. Safe to call twice."""
        self._client.disconnect()

    def __repr__(self) -> str:
        return f"ServerBackend({self.url!r})"


def _datetime_columns(column_types: Sequence[tuple[str, str]]) -> list[int]:
    """Positions of DateTime columns: clickhouse-driver returns them as naive datetimes in the
    server's zone, made aware UTC here so both backends hand out the same values."""
    return [i for i, (_, ch_type) in enumerate(column_types) if ch_type == "DateTime"]


def _zone(name: str | None) -> tzinfo:
    try:
        return ZoneInfo(name) if name else timezone.utc
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc
