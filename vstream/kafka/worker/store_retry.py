"""Store writes that wait out a store outage: retried with back-off until they succeed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from vstream.backoff import backoff_s
from vstream.errors import StoreError
from vstream.kafka.worker.stats import WorkerStats
from vstream.metrics import Metrics

log = logging.getLogger(__name__)

T = TypeVar("T")


class StopRequested(Exception):
    """The worker was asked to stop while a store write was being retried: leave without
    acking (the batch's chunks are consumed again by whoever runs next)."""


class StoreRetry:
    """Runs store writes until they succeed, waiting `backoff_s(attempt, cap=max_backoff_s)`
    seconds after each StoreError.

    `wait(seconds)` sleeps and says whether the worker is to stop (a `threading.Event.wait`);
    every retry is counted in `stats` and `metrics` and logged.
    """

    def __init__(self, wait: Callable[[float], bool], max_backoff_s: float, stats: WorkerStats,
                 metrics: Metrics) -> None:
        self.wait = wait
        self.max_backoff_s = max_backoff_s
        self.stats = stats
        self.metrics = metrics

    def __call__(self, write: Callable[[], T], what: str) -> T:
        """Run `write` until it succeeds and return its result; `what` names it in the log.

        Nothing of the batch is acked while it waits, and faust's consumer thread keeps the
        group membership. Raises StopRequested when `wait` says stop during an outage.
        """
        attempt = 0
        down_since: float | None = None
        while True:
            try:
                result = write()
            except StoreError as ex:
                down_since = down_since or time.monotonic()
                delay = backoff_s(attempt, cap=self.max_backoff_s)
                attempt += 1
                self.stats.store_retries += 1
                self.metrics.store_retries.inc()
                log.warning("store error while %s (attempt %d, down %.1f s): %s; retrying in "
                            "%.1f s, nothing acked", what, attempt,
                            time.monotonic() - down_since, ex, delay)
                if self.wait(delay):
                    raise StopRequested from ex
                continue
            if down_since is not None:
                log.warning("store back after %.1f s and %d retries: %s done",
                            time.monotonic() - down_since, attempt, what)
            return result
