"""The small interface both stores (embedded chDB, ClickHouse server) implement.

The writer and `vstream sql` only ever see a `Backend`; which engine sits behind it is decided
once, from the store URL. Values cross the interface as plain Python: int, float, str, and
timezone-aware UTC `datetime` for DateTime columns.
"""

from __future__ import annotations

import abc
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vstream.store.readonly import EngineStatement


@dataclass(frozen=True)
class QueryResult:
    """Rows of a query, with their column names in order."""

    columns: list[str]
    rows: list[tuple[Any, ...]]

    def scalar(self) -> Any:
        """The single value of a one-row, one-column result (e.g. ``SELECT count()``)."""
        if len(self.rows) != 1 or len(self.rows[0]) != 1:
            raise ValueError(
                f"expected one row of one column, got {len(self.rows)} rows of {self.columns}"
            )
        return self.rows[0][0]


@dataclass(frozen=True)
class RowStream:
    """A user query's rows as the engine sends them: `blocks` yields lists of row tuples, one
    engine block at a time, so a result of any size passes in bounded memory. `cancel()` (from
    any thread) stops the query; iterating after it ends early or raises `StoreError`."""

    columns: list[str]
    blocks: Iterator[list[tuple[Any, ...]]]
    cancel: Callable[[], None]

    def rows(self) -> Iterator[tuple[Any, ...]]:
        """The rows one by one."""
        for block in self.blocks:
            yield from block


class Backend(abc.ABC):
    """A connection to one ClickHouse database.

    Every failure of the engine (unreachable server, SQL error, refused query) is raised as
    `vstream.errors.StoreError` with a one-line message that never contains a password.
    """

    #: The store URL as safe to print (password redacted).
    url: str

    @abc.abstractmethod
    def execute(self, sql: str) -> None:
        """Run one statement that returns no rows (DDL, ALTER, ...)."""

    @abc.abstractmethod
    def query(self, sql: str) -> QueryResult:
        """Run one SELECT-like statement of vstream's own and return its rows."""

    @abc.abstractmethod
    def stream_readonly(self, statement: EngineStatement, *, timeout_s: float) -> RowStream:
        """Run a user's statement where the engine itself refuses writes, setting changes and
        table functions (``readonly=1``; table functions the engine's parser finds are checked
        first, `vstream.store.readonly.check_table_functions`), stopping it after `timeout_s`
        (``max_execution_time``; 0: no limit); its rows stream as they come."""

    @abc.abstractmethod
    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """Insert `rows` (tuples in `columns` order) into `table`; return how many were sent.

        Callers batch; one call is one INSERT.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection. Safe to call twice."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_identifier(name: str) -> str:
    """`name` if it is a plain SQL identifier; ValueError otherwise (table and column names are
    spliced into SQL, so only names we control may pass)."""
    if not _IDENTIFIER_RE.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r} (use letters, digits and _)")
    return name


# ClickHouse string literals use backslash escapes; these are the characters that must not
# appear raw inside '...' (quote, backslash) or that would make the SQL hard to read in logs.
_STRING_ESCAPES = str.maketrans(
    {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0"}
)


def sql_literal(value: Any) -> str:
    """`value` as a ClickHouse SQL literal, for values the engine cannot take as parameters.

    Handles what vstream stores: None, bool, int, float (incl. inf/nan), str, lists/tuples of
    those (arrays), and aware datetimes (written as a UTC 'YYYY-MM-DD hh:mm:ss' string, which a DateTime('UTC')
    column parses exactly).
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)  # shortest repr that round-trips exactly
    if isinstance(value, str):
        return "'" + value.translate(_STRING_ESCAPES) + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(sql_literal(v) for v in value) + "]"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value}: pass a timezone-aware one")
        return "'" + value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S") + "'"
    raise TypeError(f"cannot write {type(value).__name__} as a ClickHouse literal: {value!r}")


_EXPECTED_TOKENS = re.compile(r"\.? Expected one of: .*?(?=\. \(SYNTAX_ERROR\)|$)")


def one_line(message: str, *, secrets: Iterable[str] = ()) -> str:
    """An engine's error message cut to one line with `secrets` masked.

    ClickHouse server errors arrive as ``Code: 60.\\nDB::Exception: ... Stack trace:\\n...``;
    users need the code and the sentence, not the C++ stack.
    """
    text = message.split("Stack trace:", 1)[0]
    text = " ".join(part.strip() for part in text.splitlines() if part.strip())
    # A syntax error lists every token the parser could have taken: noise on one line.
    text = _EXPECTED_TOKENS.sub("", text)
    text = text.strip().rstrip(". ")  # "...doesn't exist.. " -> "...doesn't exist"
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
