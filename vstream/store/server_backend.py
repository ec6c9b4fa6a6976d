"""The server store: a ClickHouse server over the native protocol (clickhouse-driver).

Works with ClickHouse 18.16 (Debian's package, what the tests run) through current releases.
"""

from __future__ import annotations

import itertools
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
_BLOCK_ROWS = 8192  # rows per block handed to `vstream sql`'s writer

# clickhouse-driver logs each failed connection attempt as a WARNING with a full traceback. In
# an application that configured no logging, Python's last-resort handler prints that to stderr
# next to our one-line StoreError. A NullHandler stops only that fallback; an application that
# does configure logging still receives the records.
logging.getLogger("clickhouse_driver").addHandler(logging.NullHandler())


log = logging.getLogger(__name__)
_UNKNOWN_DATABASE = 81  # ClickHouse error code


def _client(url: StoreURL, database: str, connect_timeout_s: float) -> Any:
    from clickhouse_driver import Client

    return Client(host=url.host, port=url.port, database=database, user=url.user,
                  password=url.password, connect_timeout=connect_timeout_s, client_name="vstream")


class ServerBackend(Backend):
    """A `Backend` on a ClickHouse server; connects (and checks the credentials) at once, so a
    wrong URL fails when the store is opened, not at the first write."""

    def __init__(self, url: StoreURL, *, connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S) -> None:
        if url.scheme != "clickhouse":
            raise ValueError(f"ServerBackend needs a clickhouse:// URL, got {url}")
        self.url = str(url)  # password already redacted by StoreURL.__str__
        self._password = url.password
        self._client: Any = _client(url, url.database, connect_timeout_s)
        try:
            try:
                self._client.connection.connect()
            except Exception as ex:
                if getattr(ex, "code", None) != _UNKNOWN_DATABASE:
                    raise
                self._client.disconnect()
                self._create_database(url, connect_timeout_s)
                self._client.connection.connect()
            server_tz = self._client.connection.server_info.timezone
        except StoreError:
            raise
        except Exception as ex:
            self._client.disconnect()
            raise self._error(ex, f"cannot connect to {self.url}") from ex
        self._server_tz = _zone(server_tz)

    def _create_database(self, url: StoreURL, connect_timeout_s: float) -> None:
        """Create the URL's database, which does not exist yet, or say how to get it."""
        admin = _client(url, "default", connect_timeout_s)
        name = "`" + url.database.replace("\\", "\\\\").replace("`", "\\`") + "`"
        try:
            admin.execute(f"CREATE DATABASE IF NOT EXISTS {name}")
        except Exception as ex:
            raise StoreError(
                f"database {url.database!r} does not exist on {url.host}:{url.port} and user "
                f"{url.user!r} may not create it ({self._error(ex)}): ask an administrator to run "
                f"CREATE DATABASE {name}, or name an existing database in the store URL") from ex
        finally:
            admin.disconnect()
        log.info("created database %s on %s:%d", url.database, url.host, url.port)

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
        settings = {"max_execution_time": math.ceil(timeout_s), "readonly": 1}
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

        def blocks() -> Iterator[list[tuple[Any, ...]]]:
            done = False
            try:
                # execute_iter hands out rows; regroup them so both backends yield blocks
                for block in iter(lambda: list(itertools.islice(found, _BLOCK_ROWS)), []):
                    yield ([self._fix_datetimes(row, fixes) for row in block] if fixes
                           else [tuple(row) for row in block])
                done = True
            except (errors.Error, OSError, EOFError) as ex:
                raise self._error(ex) from ex
            finally:
                if not done:  # failed or left part-way: drop what the server still sends
                    self._client.disconnect()

        return RowStream(columns=[name for name, _ in column_types], blocks=blocks(),
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
