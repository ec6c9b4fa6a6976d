"""StoreRetry: a store write retried with capped back-off until it succeeds, or until stop."""

from __future__ import annotations

import logging

import pytest

from vstream.errors import StoreError
from vstream.kafka.worker.stats import WorkerStats
from vstream.kafka.worker.store_retry import StopRequested, StoreRetry
from vstream.metrics import Metrics


class FlakyWrite:
    """Fails `failures` times with StoreError, then returns 42."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise StoreError("connection refused")
        return 42


def make_retry(stop_after: int | None = None, cap: float = 2.0) -> tuple[StoreRetry, list]:
    waits: list[float] = []

    def wait(delay: float) -> bool:  # no real sleep: record the delay, stop when told
        waits.append(delay)
        return stop_after is not None and len(waits) >= stop_after

    return StoreRetry(wait, cap, WorkerStats(), Metrics()), waits


def test_a_write_that_succeeds_is_run_once_and_counts_nothing() -> None:
    retry, waits = make_retry()
    write = FlakyWrite(0)
    assert retry(write, "writing") == 42
    assert write.calls == 1 and waits == [] and retry.stats.store_retries == 0


def test_failures_are_retried_with_capped_backoff_counted_and_logged(caplog) -> None:
    caplog.set_level(logging.WARNING, logger="vstream.kafka.worker")
    retry, waits = make_retry(cap=2.0)
    write = FlakyWrite(6)
    assert retry(write, "writing the rows of 3 chunks") == 42
    assert write.calls == 7 and len(waits) == 6
    assert all(0 <= w <= 2.0 for w in waits)
    assert retry.stats.store_retries == 6
    assert retry.metrics.value("vstream_store_write_retries_total") == 6
    messages = [r.getMessage() for r in caplog.records]
    assert sum("store error while writing the rows of 3 chunks (attempt" in m
               and "nothing acked" in m for m in messages) == 6
    assert messages[-1].startswith("store back after") and "6 retries" in messages[-1]


def test_stopping_during_an_outage_raises_stop_requested_and_stops_retrying() -> None:
    retry, waits = make_retry(stop_after=2)
    write = FlakyWrite(100)
    with pytest.raises(StopRequested):
        retry(write, "writing")
    assert write.calls == 2 and len(waits) == 2


def test_other_errors_are_not_retried() -> None:
    retry, waits = make_retry()

    def broken() -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError):
        retry(broken, "writing")
    assert waits == []
