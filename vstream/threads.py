"""Run an iterator on a worker thread behind a bounded queue (decode ahead of analysis)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def read_ahead(make: Callable[[], Iterator[T]], depth: int = 4, name: str = "read-ahead") -> Iterator[T]:
    """Yield the items of `make()`, produced on a thread at most `depth` items ahead.

    FFmpeg and numba release the GIL, so decoding the next chunk overlaps analysing this one.
    An exception on the thread is re-raised here; the thread is always stopped and joined, also
    when the caller stops early.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    failure: list[BaseException] = []

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in make():
                if not put(item):
                    return
        except BaseException as ex:  # noqa: BLE001 - handed to the consumer, which re-raises
            failure.append(ex)
        put(_DONE)

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                if failure:
                    raise failure[0]
                return
            yield item
    finally:
        stop.set()
        thread.join()
