"""The server store: a ClickHouse server over the native protocol (clickhouse-driver).

Works with ClickHouse 18.16 (Debian's package, what the tests run) through current releases.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vstream.errors import StoreError
from vstream.store.backend import Backend, QueryResult, check_identifier, one_line
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

    def _call(self, sql: str, data: Any = None, settings: dict[str, Any] | None = None) -> Any:
        # Only clickhouse-driver's own errors and socket errors are the store's failures;
        # anything else (a TypeError from bad row values) is a caller bug and propagates as is.
        from clickhouse_driver import errors

        try:
            if data is None:
                return self._client.execute(sql, with_column_types=True, settings=settings)
            return self._client.execute(sql, data, settings=settings)
        except (errors.Error, OSError, EOFError) as ex:
            raise self._error(ex) from ex

    def execute(self, sql: str) -> None:
        """Run one statement that returns no rows."""
        self._call(sql)

    def query(self, sql: str, *, readonly: bool = False) -> QueryResult:
        """Run one SELECT-like statement; `readonly=True` sends ``readonly=1`` so the server
        refuses any write or setting change itself."""
        rows, column_types = self._call(sql, settings={"readonly": 1} if readonly else None)
        # clickhouse-driver returns DateTime without a time zone as naive datetimes in the
        # server's zone; make them aware UTC so both backends hand out the same values.
        fixes = [i for i, (_, ch_type) in enumerate(column_types) if ch_type == "DateTime"]
        if fixes and rows:
            rows = [self._fix_datetimes(row, fixes) for row in rows]
        return QueryResult(columns=[name for name, _ in column_types], rows=[tuple(r) for r in rows])

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


def _zone(name: str | None) -> tzinfo:
    try:
        return ZoneInfo(name) if name else timezone.utc
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc
