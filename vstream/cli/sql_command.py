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
import logging
import math
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from vstream.errors import StoreError, Terminated
from vstream.store.backend import RowStream

log = logging.getLogger(__name__)

#: rows the table format shows by default: it must see every row before it can size columns
TABLE_LIMIT = 1000
_QUEUE_BLOCKS = 2  # engine blocks (up to ~65k rows each) between the engine and the writer
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
    `timeout_s` (0: no limit), KeyboardInterrupt on Ctrl-C; in every case the query is cancelled first.
    """
    if fmt == "table" and limit is None:
        limit = TABLE_LIMIT
    # Started on the reader thread too: the engine may take minutes before its first block.
    reader = _Reader(lambda: writer.stream_readonly(sql, timeout_s=timeout_s),
                     deadline=(time.monotonic() + timeout_s + _DEADLINE_GRACE_S if timeout_s > 0
                               else math.inf),
                     timeout_s=timeout_s)
    try:
        blocks = reader.blocks()
        columns = next(blocks)
        if limit is not None:
            blocks = _at_most(blocks, limit, on_more=reader.cut)
        write_blocks(fmt, columns, blocks, out)
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
    """Moves a `RowStream`'s blocks to the calling thread through a bounded queue."""

    def __init__(self, start: Callable[[], RowStream], *, deadline: float,
                 timeout_s: float) -> None:
        self._start, self._deadline, self._timeout_s = start, deadline, timeout_s
        self._found: RowStream | None = None
        self._queue: queue.Queue[list | BaseException | None] = queue.Queue(_QUEUE_BLOCKS)
        self._stopping = threading.Event()
        self.was_cut = False
        # a daemon: a thread stuck inside the engine must not keep the process alive
        self._thread = threading.Thread(target=self._read, name="sql-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            log.info("running the query (stops after %g s)", self._timeout_s)
            self._found = self._start()
            if not self._put(self._found.columns):
                return
            for block in self._found.blocks:
                if not self._put(block):
                    return
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

    def blocks(self) -> Iterator[list]:
        """The column names first, then the blocks of rows."""
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
            yield item

    def cut(self) -> None:
        self.was_cut = True

    def stop(self, failure: BaseException | None = None) -> None:
        """Cancel the query if it still runs and let the reader thread go.

        A query still running when `failure` (Ctrl-C, the deadline, a closed pipe) stops it
        ends the process here: the thread may still be inside the engine, and chDB can crash
        in its own shutdown after a cancelled query (seen: SIGSEGV in 1 of 3 Ctrl-Cs, "The
        ShutdownTablesThreadPool is not initialized"). The query only read: nothing is lost.
        """
        self._stopping.set()
        if not self._thread.is_alive():
            return
        if self._found is not None:
            self._found.cancel()
            self._thread.join(_JOIN_S)
        if failure is not None or self._thread.is_alive():
            exit_now(failure)


def exit_now(failure: BaseException | None) -> None:
    """End the process as `vstream.cli.main` would have for `failure`, without the
    interpreter's shutdown: chDB can crash or hang in its own shutdown after a cancelled or
    interrupted query. Only for read-only work (nothing is left unwritten)."""
    if isinstance(failure, Terminated):
        code, line = 143, "vstream: terminated"
    elif isinstance(failure, KeyboardInterrupt):
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


def _at_most(blocks: Iterator[list[tuple]], limit: int, on_more: Any) -> Iterator[list[tuple]]:
    left = limit
    for block in blocks:
        if len(block) > left or (left == 0 and block):
            yield block[:left]
            on_more()
            return
        left -= len(block)
        yield block


def _write_csv(columns: list[str], blocks: Iterator[list[tuple]], out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for block in blocks:
        writer.writerows(block)


def _write_json(columns: list[str], blocks: Iterator[list[tuple]], out: TextIO) -> None:
    encode = json.JSONEncoder(default=str).encode
    for block in blocks:
        out.write("".join(encode(dict(zip(columns, row))) + "\n" for row in block))


def _write_table(columns: list[str], blocks: Iterator[list[tuple]], out: TextIO) -> None:
    out.write(render_table(columns, [row for block in blocks for row in block]) + "\n")


def render_table(columns: list[str], rows: list[tuple]) -> str:
    """`rows` as aligned text columns under a header and a rule."""
    cells = [[str(c) for c in columns]] + [[str(v) for v in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


_WRITERS = {"csv": _write_csv, "json": _write_json, "table": _write_table}


def write_blocks(fmt: str, columns: list[str], blocks: Iterator[list[tuple]], out: TextIO) -> None:
    """Write row blocks to `out` as they come: ``csv`` (a header line first), ``json`` (one
    object per line) or ``table`` (aligned columns; it holds the rows to size them)."""
    _WRITERS[fmt](columns, blocks, out)
