"""`vstream sql`: a user's query, its rows written as they arrive, stoppable at any moment.

The engine sends rows block by block (`RowStream`); a reader thread moves them through a small
bounded queue to the main thread, which writes them out. So memory stays flat whatever the
result size (`vstream sql "SELECT number FROM numbers(50000000)" --format csv | wc -l`), and the
main thread never sits inside the engine: Ctrl-C and the deadline are seen within a fraction of a
second, even while the engine is busy on an aggregate that sends nothing for minutes.
"""

from __future__ import annotations

import csv
import json
import os
import queue
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, TextIO

from vstream.errors import StoreError
from vstream.store.backend import RowStream

#: rows the table format shows by default: it must see every row before it can size columns
TABLE_LIMIT = 1000
_BATCH_ROWS = 1000  # rows per queue item: few enough to stay small, enough to amortise the queue
_QUEUE_BATCHES = 8
_POLL_S = 0.2
#: how long the engine's own max_execution_time may overrun before vstream gives up on it
_DEADLINE_GRACE_S = 5.0
_JOIN_S = 1.0


class QueryTimeout(StoreError):
    """The query ran past `vstream sql --timeout`."""


def run_sql(writer: Any, sql: str, *, fmt: str, limit: int | None, timeout_s: float,
            out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> None:
    """Run `sql` read-only on `writer` (a ClickHouseWriter) and write its rows to `out` in
    `fmt` (table, csv or json lines), at most `limit` rows (None: all; the table format
    defaults to `TABLE_LIMIT` and says on `err` what it cut).

    Raises ReadOnlyQueryError/StoreError for refused or failed queries, QueryTimeout past
    `timeout_s`, KeyboardInterrupt on Ctrl-C; in every case the query is cancelled first.
    """
    if fmt == "table" and limit is None:
        limit = TABLE_LIMIT
    found = writer.stream_readonly(sql, timeout_s=timeout_s)
    reader = _Reader(found, deadline=time.monotonic() + timeout_s + _DEADLINE_GRACE_S,
                     timeout_s=timeout_s)
    try:
        rows = reader.rows()
        if limit is not None:
            rows = _at_most(rows, limit, on_more=reader.cut)
        write_rows(fmt, found.columns, rows, out)
    except StoreError as ex:
        if "TIMEOUT_EXCEEDED" not in str(ex):
            reader.stop(failure=ex)
            raise
        timeout = QueryTimeout(f"the query ran past --timeout {timeout_s:g} s and was stopped")
        reader.stop(failure=timeout)
        raise timeout from ex
    except BaseException as ex:
        reader.stop(failure=ex)
        raise
    reader.stop()
    if reader.was_cut:
        print(f"vstream: showing the first {limit} rows (--limit N for more"
              f"{', --format csv for all' if fmt == 'table' else ''})", file=err)


class _Reader:
    """Moves a `RowStream`'s rows to the calling thread through a bounded queue."""

    def __init__(self, found: RowStream, *, deadline: float, timeout_s: float) -> None:
        self._found, self._deadline, self._timeout_s = found, deadline, timeout_s
        self._queue: queue.Queue[list | BaseException | None] = queue.Queue(_QUEUE_BATCHES)
        self._stopping = threading.Event()
        self.was_cut = False
        # a daemon: a thread stuck inside the engine must not keep the process alive
        self._thread = threading.Thread(target=self._read, name="sql-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        batch: list[tuple] = []
        try:
            for row in self._found.rows:
                batch.append(row)
                if len(batch) >= _BATCH_ROWS:
                    if not self._put(batch):
                        return
                    batch = []
            self._put(batch)
            self._put(None)
        except BaseException as ex:  # handed to the main thread, which raises it
            self._put(ex)

    def _put(self, item: list | BaseException | None) -> bool:
        while not self._stopping.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def rows(self) -> Iterator[tuple]:
        while True:
            try:
                item = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                if time.monotonic() > self._deadline:  # the engine did not stop it itself
                    raise QueryTimeout(f"the query ran past --timeout {self._timeout_s:g} s "
                                       f"and was stopped") from None
                continue
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield from item

    def cut(self) -> None:
        self.was_cut = True

    def stop(self, failure: BaseException | None = None) -> None:
        """Cancel the query if it still runs and let the reader thread go."""
        self._stopping.set()
        if self._thread.is_alive():
            self._found.cancel()
            self._thread.join(_JOIN_S)
        if self._thread.is_alive():
            # Still inside the engine after a cancel: nothing was written (the query reads),
            # so leave at once rather than wait at interpreter shutdown for the engine.
            _exit_now(failure)


def _exit_now(failure: BaseException | None) -> None:
    """End the process as `vstream.cli.main` would have for `failure`, without waiting."""
    if isinstance(failure, KeyboardInterrupt):
        code, line = 130, "vstream: interrupted"
    elif isinstance(failure, BrokenPipeError):
        code, line = 141, ""
    elif failure is not None:
        code, line = getattr(failure, "exit_code", 1), f"vstream: error: {failure}"
    else:
        code, line = 0, ""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    if line:
        print(line, file=sys.stderr, flush=True)
    os._exit(code)


def _at_most(rows: Iterator[tuple], limit: int, on_more: Any) -> Iterator[tuple]:
    for n, row in enumerate(rows):
        if n == limit:
            on_more()
            return
        yield row


def _write_csv(columns: list[str], rows: Iterator[tuple], out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(row)


def _write_json(columns: list[str], rows: Iterator[tuple], out: TextIO) -> None:
    for row in rows:
        out.write(json.dumps(dict(zip(columns, row)), default=str) + "\n")


def _write_table(columns: list[str], rows: Iterator[tuple], out: TextIO) -> None:
    out.write(render_table(columns, list(rows)) + "\n")


def render_table(columns: list[str], rows: list[tuple]) -> str:
    """`rows` as aligned text columns under a header and a rule."""
    cells = [[str(c) for c in columns]] + [[str(v) for v in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


_WRITERS = {"csv": _write_csv, "json": _write_json, "table": _write_table}


def write_rows(fmt: str, columns: list[str], rows: Iterator[tuple], out: TextIO) -> None:
    """Write `rows` to `out` as they come: ``csv`` (a header line first), ``json`` (one object
    per line) or ``table`` (aligned columns; it holds the rows to size them)."""
    _WRITERS[fmt](columns, rows, out)
