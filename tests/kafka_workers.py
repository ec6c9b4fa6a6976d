"""Running a Kafka worker in tests until a state (caught up, a stop the test sets on an event it
waits for), never until a clock runs out; a hang guard only turns a hang into a failure."""

from __future__ import annotations

import threading
from collections.abc import Callable

from vstream.kafka.worker import ChunkWorker, WorkerStats

#: the longest a test worker may run; only a hang should reach it
HANG_GUARD_S = 120.0


def run_until_caught_up(worker: ChunkWorker, hang_guard_s: float = HANG_GUARD_S) -> WorkerStats:
    """`worker.run(until_caught_up=True)`: it consumes everything on the topic, finishes its
    streams and returns its stats. One still running after `hang_guard_s` is stopped, and the
    test fails."""
    return run_guarded(lambda stop: worker.run(stop_event=stop, until_caught_up=True),
                       hang_guard_s=hang_guard_s)


def run_guarded(run: Callable[[threading.Event], WorkerStats],
                stop: threading.Event | None = None,
                hang_guard_s: float = HANG_GUARD_S) -> WorkerStats:
    """`run(stop)`: a worker's run that returns when `stop` is set (by the test, on a state it
    waits for), or on its own. After `hang_guard_s` the guard sets `stop`, and the test fails."""
    stop = stop if stop is not None else threading.Event()
    hung = threading.Event()

    def fire() -> None:
        hung.set()
        stop.set()

    guard = threading.Timer(hang_guard_s, fire)
    guard.start()
    try:
        stats = run(stop)
    finally:
        guard.cancel()
    assert not hung.is_set(), f"hang guard: the worker still ran after {hang_guard_s:g} s"
    return stats
