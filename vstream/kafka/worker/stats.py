"""What a worker has done so far: the counters `ChunkWorker.run` returns."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class WorkerStats:
    """The running counts of one worker (`ChunkWorker.stats`), also read while it runs."""

    chunks: int = 0  # chunks decoded and segmented
    frames: int = 0
    duplicates: int = 0  # chunks skipped as producer retries (seq not above the last seen)
    replayed: int = 0  # chunks skipped as already in a restored state (a replay)
    restored: int = 0  # streams continued from their saved states
    dead_letters: int = 0  # messages sent to the DLQ
    rows_written: int = 0  # new scene rows (replays that the store already had are not counted)
    streams_finished: int = 0
    commits: int = 0
    store_retries: int = 0  # store writes retried after a StoreError
    dlq_reasons: list[str] = field(default_factory=list)
    #: monotonic times of the first record received and of the end of the last batch, and the
    #: seconds spent finishing streams (caught up or idle): the worker's busy time, for throughput
    first_record_at: float | None = None
    last_batch_at: float | None = None
    finish_s: float = 0.0
    #: capture-to-row seconds of recent scene rows (live and --realtime chunks only; not the
    #: last scene of a finished stream, which waited for the stream's end, not for the worker)
    latencies: deque = field(default_factory=lambda: deque(maxlen=100_000))
    #: capture-to-row and capture-to-published seconds of recent enter, leave and count events
    #: (live and --realtime chunks only; not those decided by a stream's end)
    event_latencies: deque = field(default_factory=lambda: deque(maxlen=100_000))
    event_publish_latencies: deque = field(default_factory=lambda: deque(maxlen=100_000))
    #: capture-to-commit seconds of recent chunks (live and --realtime chunks only)
    chunk_latencies: deque = field(default_factory=lambda: deque(maxlen=100_000))

    @property
    def busy_s(self) -> float:
        """Seconds from the first record received to the last batch written, plus the time
        spent finishing streams (not the idle wait before it; 0 before the first batch)."""
        if self.first_record_at is None or self.last_batch_at is None:
            return 0.0
        return max(0.0, self.last_batch_at - self.first_record_at) + self.finish_s

    def summary(self) -> str:
        """The counts in one line, for the worker's last log line and `vstream worker`."""
        return (f"{self.chunks} chunks, {self.frames} frames, {self.duplicates} duplicates skipped, "
                f"{self.dead_letters} to the DLQ, {self.rows_written} scene rows written, "
                f"{self.streams_finished} streams finished, {self.commits} offset commits, "
                f"{self.store_retries} store retries, {self.restored} streams restored from "
                f"their saved state, {self.replayed} replayed chunks skipped")
