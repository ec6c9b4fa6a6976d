"""WorkerStats: busy time and the summary line."""

from __future__ import annotations

from vstream.kafka.worker.stats import WorkerStats


def test_busy_time_is_zero_before_the_first_batch_then_counts_finishing() -> None:
    stats = WorkerStats()
    assert stats.busy_s == 0.0
    stats.first_record_at, stats.last_batch_at, stats.finish_s = 10.0, 12.5, 1.0
    assert stats.busy_s == 3.5
    stats.last_batch_at = 9.0  # clocks never make it negative
    assert stats.busy_s == 1.0


def test_the_summary_names_every_count() -> None:
    stats = WorkerStats(chunks=3, frames=90, duplicates=1, dead_letters=2, rows_written=4,
                        streams_finished=1, commits=5, store_retries=6, restored=7, replayed=8)
    assert stats.summary() == (
        "3 chunks, 90 frames, 1 duplicates skipped, 2 to the DLQ, 4 scene rows written, "
        "1 streams finished, 5 offset commits, 6 store retries, 7 streams restored from their "
        "saved state, 8 replayed chunks skipped")
