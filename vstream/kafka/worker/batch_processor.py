"""One batch of chunk messages into rows, on the batch's thread; and the end of streams.

For each batch, in this order: streams unknown to the worker are restored from their saved
states, the messages admitted (`admission`), decoded ahead on a thread (`decode_ahead`) and fed
to their streams' stages, the rows written (retrying while the store is down), the dead letters
acknowledged. Saving the states, acking the messages and reading a partition again over a gap
(`Rewind`) is the caller's (`ChunkWorker`): it knows faust.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import closing

from vstream.chunk import GopChunk
from vstream.kafka.events import EventPublisher
from vstream.kafka.worker.admission import ChunkAdmission, DeadLetter, Rewind
from vstream.kafka.worker.dead_letters import UNDECODABLE, DeadLetterSink
from vstream.kafka.worker.decode_ahead import DecodedChunk, UndecodableChunk, analysed, decoded
from vstream.kafka.worker.stage_settings import StageSettings
from vstream.kafka.worker.stats import WorkerStats
from vstream.kafka.worker.store_retry import StoreRetry
from vstream.kafka.worker.stream_state import StreamInfo, StreamState
from vstream.metrics import Metrics
from vstream.redact import redact_url
from vstream.store.rows import StreamRow
from vstream.stream.stages import SnapshotError, StageOutput, remember_people, write_output
from vstream.threads import read_ahead

log = logging.getLogger(__name__)

#: chunks decoded (and through the frame model) ahead of the one being fed
DECODE_AHEAD = 4


class BatchProcessor:
    """The streams of one worker (`streams`: stream ID -> state) and the work on them.

    Rows go to `store` tagged `model_version`, and, once stored, to `events` (None: not
    published); dead letters to `dead_letters`; every store access goes through `retry`.
    """

    def __init__(self, store, settings: StageSettings, model_version: str, *,
                 dead_letters: DeadLetterSink, retry: StoreRetry,
                 events: EventPublisher | None, stats: WorkerStats, metrics: Metrics) -> None:
        self.store = store
        self.settings = settings
        self.model_version = model_version
        self.dead_letters = dead_letters
        self.retry = retry
        self.events = events
        self.stats = stats
        self.metrics = metrics
        self.streams: dict[str, StreamState] = {}
        self.admission = ChunkAdmission(self.streams, self._new_stream, stats, metrics)

    def process(self, messages: list, saved: dict[str, bytes]
                ) -> tuple[list[StreamState], list[float], list[Rewind]]:
        """Decode, segment and store one batch of faust Messages, `saved` holding the table's
        states of streams the worker does not know yet; return the states the batch moved on,
        the capture times of its chunks, and the partitions to read again from an earlier
        offset (the batch's later messages there were left)."""
        for stream_id, data in saved.items():
            state = self.restore(stream_id, data)
            if state is not None:
                self.streams[stream_id] = state
        rows: list[tuple[StreamState, StageOutput]] = []
        captured: list[float] = []
        touched: dict[str, StreamState] = {}
        # Admission (parse, drop replays and retries, make new streams' stages, read the
        # store) on this thread; then the next chunks are decoded on a thread, and go through
        # the frame model on another (a `pipelined` model's; else on this one), while this one
        # is segmented and tracked. Each stream's chunks stay in order on every side.
        admitted = list(self.admission.admit(messages, touched))
        rewinds = [item for item in admitted if isinstance(item, Rewind)]
        admitted = [item for item in admitted if not isinstance(item, Rewind)]
        def passed() -> Iterator:
            return analysed(read_ahead(lambda: decoded(admitted), depth=DECODE_AHEAD,
                                       name="worker-decode"))

        pipelined = self.settings.model is not None and self.settings.model.pipelined
        items = read_ahead(passed, depth=2, name="worker-model") if pipelined else passed()
        with closing(items):  # also on a failure: the decode and model threads stop first
            for item in items:
                rows += self._feed(item, captured)
        # Rows first: a crash before the states are saved replays the chunks from the old
        # states, which makes the same rows (skipped by row_id). Dead letters next: a chunk in
        # a saved state is never replayed, so its letter must be out.
        if rows:
            self.write_rows(rows)
        self.dead_letters.flush()
        self.stats.last_batch_at = time.monotonic()
        return list(touched.values()), captured, rewinds

    def restore(self, stream_id: str, data: bytes) -> StreamState | None:
        """The stream's state from its table entry (None: unreadable, and then the stream
        starts afresh where its chunks resume)."""
        try:
            state = StreamState.restore(data, self.model_version, self.settings.restore)
        except SnapshotError as ex:
            log.warning("stream %s: saved state not restored (%s); it starts with a fresh state "
                        "at the committed offset", stream_id, ex)
            return None
        if state.stages.analyzer is not None:
            oldest = state.stages.analyzer.oldest_pending_frame()
            self.retry(lambda: remember_people(state.stages, self.store, oldest),
                       f"reading the stored tracks of {stream_id}")
        self.stats.restored += 1
        log.info("stream %s: restored from its saved state (seq %d, partition %d offset %d, "
                 "%d frames)", stream_id, state.last_seq, state.partition, state.next_offset,
                 state.frames)
        return state

    def finish_all(self, waiting: dict[str, bytes], reason: str) -> None:
        """The worker is caught up or stayed idle (`reason`, for the log): finish every stream,
        those in memory and those of `waiting` (stream ID -> saved state, known only from the
        table)."""
        for stream_id, data in waiting.items():
            if stream_id not in self.streams:
                state = self.restore(stream_id, data)
                if state is not None:
                    self.streams[stream_id] = state
        log.info("%s: finishing %d streams", reason, len(self.streams))
        started = time.monotonic()
        for stream_id in list(self.streams):
            self.finish_stream(stream_id)
        self.stats.finish_s += time.monotonic() - started

    def finish_stream(self, stream_id: str) -> int:
        """Close `stream_id`: write its last scenes and its `streams` row (`partial` when chunks
        could not be decoded); return new scene rows."""
        state = self.streams[stream_id]
        out = state.finish()
        new = self.write_rows([(state, out)], stream_end=True)
        first = state.info
        row = StreamRow(
            stream_id=stream_id, source=redact_url(first.source), codec=first.codec,
            width=first.width, height=first.height, fps=float(first.frame_rate),
            frames=state.frames, duration_s=state.last_end_s,
            model_version=self.model_version, status=state.status[0],
            status_reason=state.status[1])
        self.retry(lambda: self.store.write_stream(row), f"the streams row of {stream_id}")
        del self.streams[stream_id]
        self.stats.streams_finished += 1
        log.info("stream %s finished: %d chunks, %d frames", stream_id, state.chunks, state.frames)
        return new

    def drop_partitions(self, gone: set[int]) -> int:
        """Forget the streams of the partitions `gone` (revoked: their saved states are the
        next owner's); return how many."""
        dropped = [sid for sid, state in self.streams.items() if state.partition in gone]
        for stream_id in dropped:
            del self.streams[stream_id]
        self.admission.forget(gone)
        return len(dropped)

    def write_rows(self, rows: list[tuple[StreamState, StageOutput]], *,
                   stream_end: bool = False) -> int:
        """Write the rows of (stream, stage output) pairs, retrying while the store is down;
        return the new rows.

        `stream_end`: the rows were closed by finishing a stream, so their latency measures how
        long the stream stayed quiet, not the worker: not observed."""
        new = self.retry(
            lambda: sum(write_output(self.store, state.stream_id, self.model_version, out,
                                     self.settings.gallery) for state, out in rows),
            f"writing the rows of {len(rows)} chunks")
        written_at = time.time()
        captured = {state.stream_id: state.captured_at for state, _ in rows}
        if self.events is not None:  # after the store write, before the commit: at-least-once
            self.events.publish([(state.stream_id, out) for state, out in rows], self.model_version,
                                captured_at=captured)
        if not stream_end:
            self._observe_events(rows, written_at, time.time())
        self.stats.rows_written += new
        now = time.time()
        for state, out in rows:
            if out.scenes:
                state.last_end_s = out.scenes[-1].scene.end_s
            for analysed in out.scenes:
                captured_at = state.captured_at(analysed.scene.end_frame)
                if captured_at is not None and not stream_end:
                    latency = max(0.0, now - captured_at)
                    self.metrics.capture_to_row.observe(latency)
                    self.stats.latencies.append(latency)
            # Per stream, scene rows handed to the store (the store counts only new ones).
            if out.scenes:
                self.metrics.rows_written.labels(state.stream_id).inc(len(out.scenes))
        return new

    def _observe_events(self, rows: list[tuple[StreamState, StageOutput]], written_at: float,
                        published_at: float) -> None:
        """Capture-to-row and capture-to-published latencies of the events in `rows`."""
        for state, out in rows:
            for event in out.events:
                captured_at = state.captured_at(event.frame)
                if captured_at is None:
                    continue
                kind = event.kind
                row_s = max(0.0, written_at - captured_at)
                self.metrics.capture_to_event_row.labels(kind).observe(row_s)
                self.stats.event_latencies.append(row_s)
                if self.events is not None:
                    published_s = max(0.0, published_at - captured_at)
                    self.metrics.capture_to_event_published.labels(kind).observe(published_s)
                    self.stats.event_publish_latencies.append(published_s)

    def _new_stream(self, chunk: GopChunk) -> StreamState:
        """The state of a stream whose first chunk `chunk` is."""
        stages = self.settings.new(chunk.stream_id, float(chunk.frame_rate))
        # rows a crashed run stored before its first saved state keep their identities
        self.retry(lambda: remember_people(stages, self.store),
                   f"reading the stored tracks of {chunk.stream_id}")
        return StreamState(chunk.stream_id, stages, StreamInfo.of(chunk))

    def _feed(self, item: DeadLetter | DecodedChunk | UndecodableChunk, captured: list[float]
              ) -> list[tuple[StreamState, StageOutput]]:
        """One item of `decoded`: [(stream, the rows it completed)]. A chunk's capture time is
        appended to `captured`."""
        if isinstance(item, DeadLetter):
            self.dead_letters.send(item.message, item.kind, item.reason)
            return []
        if isinstance(item, UndecodableChunk):  # to the DLQ, and a gap in its stream
            self.dead_letters.send(item.message, UNDECODABLE, item.reason)
            item.state.skip(item.chunk, item.reason)
            return []
        chunk = item.chunk
        out = item.state.feed(chunk, item.batch, item.samples)
        self.stats.chunks += 1
        self.stats.frames += len(chunk.packets)
        self.metrics.chunks_processed.labels(chunk.stream_id).inc()
        self.metrics.frames_processed.labels(chunk.stream_id).inc(len(chunk.packets))
        if chunk.capture_time is not None:
            captured.append(chunk.capture_time)
        return [(item.state, out)]
