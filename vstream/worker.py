"""The Kafka driver: consume GopChunks from the chunk topic, run the batch driver's stages, store rows.

    from vstream.store import open_store
    from vstream.worker import ChunkWorker
    with open_store("chdb:///tmp/vs") as store:
        worker = ChunkWorker("127.0.0.1:9092", "vstream.chunks", store)
        stats = worker.run(max_idle_s=10)      # until 10 s without messages, then finish streams

Same stages as `vstream index` (one core, two drivers): per stream a `vstream.stages.StreamStages`
(decoder, segmenter, and with a frame model the analyzer: network, trackers, people, scene
stories), fed chunk by chunk in the stream's order; its output becomes the same rows (same
row_id, same model_version) that `index_video` writes, so a file indexed in-process and the same
file streamed through Kafka give the same rows. One people gallery per worker, shared by its
streams, loaded from the store at start.

Delivery: one consumer group (`group`), offsets committed by hand only after the rows of the
polled chunks are written (and their dead letters acknowledged), so a crash replays chunks rather
than losing them; replayed rows are skipped by the store (idempotent by row_id). A message that is
not a chunk (ChunkFormatError) or that FFmpeg cannot decode (DecodeError) goes to `<topic>.dlq`
with headers `reason`, `source_topic`, `source_partition`, `source_offset`; the worker carries on.
A chunk whose seq is not above the last seq seen for its stream is a producer retry: skipped.

Store outages: a write that fails with StoreError (server down, connection lost) is retried with
exponential back-off and jitter (capped at `max_store_backoff_s`), each failure logged, for as
long as the store stays down; meanwhile the worker's partitions are paused and the consumer keeps
polling, so it stays in its group without fetching more. Nothing is committed until the rows are
written, so stopping the worker during an outage loses nothing either (the chunks are replayed).

Metrics (`vstream.metrics.Metrics`, served by `vstream worker --metrics-port`): chunks and frames
per stream, rows written, consumer lag per partition, capture-to-row latency, drops and dead
letters by reason, store retries, commits.

Checkpoints: after each poll batch the worker writes, in this order, the rows, the dead letters,
a checkpoint of every stream the batch moved on (`StreamState.snapshot`: the stages' snapshot,
i.e. shot detector history, open scene, trackers and waiting frames, plus last seq, counters and
capture anchors; never a model or FFmpeg context) into the store's `stream_state` table with the
partition and offset of the stream's next chunk, and only then the offsets. A stream without state
here (a restart, or a partition newly assigned by a rebalance) is restored from its checkpoint when
its chunks arrive, and chunks below the checkpoint's offset whose seq it holds are skipped. So a
worker killed at any point (SIGKILL included) and restarted, or replaced by another member of its
group, writes exactly the rows of an uninterrupted run: a crash before a checkpoint replays from
the previous one and makes the same rows (skipped by row_id); a crash after it replays chunks the
checkpoint holds (skipped by seq). On revoke a worker drops the states of its revoked partitions
(everything is written and committed between batches). Tested with `--model none`; with a frame
model the shared people gallery is not part of a stream's checkpoint (it is stored as `people`
rows after each batch), so a replayed batch can see people it already added.

Streams never end on Kafka: `finish_stream` closes one (last scene, `streams` row, a finished
checkpoint); `run(max_idle_s=...)` finishes every stream of the worker's partitions when the topic
stays idle, also those it knows only from a checkpoint.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import TypeVar

from kafka import ConsumerRebalanceListener

from vstream.chunk import GopChunk
from vstream.chunker import redact_url
from vstream.errors import ChunkFormatError, DecodeError, StoreError
from vstream.ingest import backoff_s
from vstream.kafka.errors import BrokerUnavailableError
from vstream.kafka.events import EventPublisher
from vstream.kafka.topics import EVENTS_TOPIC, dlq_topic
from vstream.metrics import Metrics
from vstream.detect.models import DEFAULT_MODEL, load_frame_model, match_threshold
from vstream.stages import (
    DEFAULT_ANALYSIS_FPS, SnapshotError, StageOutput, StreamStages, load_gallery, pack_state,
    remember_people, row_version, unpack_state, write_output,
)
from vstream.store.rows import StreamCheckpoint
from vstream.threads import read_ahead

log = logging.getLogger(__name__)

DEFAULT_GROUP = "vstream-workers"
#: bound of one fetch response (all partitions)
FETCH_MAX_BYTES = 64 * 1024 * 1024
#: how often the consumer lag gauge is refreshed (one ListOffsets request per refresh)
LAG_INTERVAL_S = 2.0
#: chunks per stream whose capture times are kept to date the frames of closing scenes
_CAPTURE_ANCHORS = 256

T = TypeVar("T")


class _Stopped(Exception):
    """stop_event was set while a store write was being retried: leave without committing."""


@dataclass(frozen=True)
class StreamInfo:
    """What the `streams` row says about a stream, taken from its first chunk."""

    source: str
    codec: str
    width: int
    height: int
    frame_rate: Fraction

    @classmethod
    def of(cls, chunk: GopChunk) -> StreamInfo:
        return cls(chunk.source, chunk.codec, chunk.width, chunk.height, chunk.frame_rate)


@dataclass
class StreamState:
    """What the worker keeps for one stream between its chunks (built on the stream's first
    chunk, or restored from its checkpoint)."""

    stream_id: str
    stages: StreamStages
    info: StreamInfo  # codec, size, rate and source of the stream, for its `streams` row
    last_seq: int = -1
    frames: int = 0
    chunks: int = 0
    last_end_s: float = 0.0
    #: (first_frame, capture_time, frame_rate) of the stream's recent chunks that carry a
    #: capture time, oldest first: a scene closes chunks after its last frame arrived
    captures: deque = field(default_factory=lambda: deque(maxlen=_CAPTURE_ANCHORS))
    #: where the stream's chunks are: its partition, and the offset after its last chunk seen
    partition: int = -1
    next_offset: int = 0
    #: offset after the last chunk of the checkpoint this state was restored from (-1: none):
    #: a chunk below it with seq <= last_seq is a replay of an applied chunk, not a retry
    resume_offset: int = -1

    def snapshot(self) -> bytes:
        """The state at a chunk boundary (after `feed`) as bytes: the stages' snapshot and the
        worker's own bookkeeping of the stream."""
        return pack_state({
            "stream_id": self.stream_id, "info": asdict(self.info), "last_seq": self.last_seq,
            "frames": self.frames, "chunks": self.chunks, "last_end_s": self.last_end_s,
            "captures": list(self.captures), "stages": self.stages.snapshot(),
        })

    @classmethod
    def restore(cls, checkpoint: StreamCheckpoint, make_stages: Callable[..., StreamStages]
                ) -> StreamState:
        """The state `checkpoint` holds; `make_stages(data, frame_rate)` restores the stages
        with the worker's shared model and gallery. Raises SnapshotError."""
        saved = unpack_state(checkpoint.state)
        info = StreamInfo(**saved["info"])
        state = cls(saved["stream_id"], make_stages(saved["stages"], float(info.frame_rate)),
                    info, last_seq=int(saved["last_seq"]), frames=int(saved["frames"]),
                    chunks=int(saved["chunks"]), last_end_s=float(saved["last_end_s"]),
                    partition=checkpoint.partition, next_offset=checkpoint.next_offset,
                    resume_offset=checkpoint.next_offset)
        state.captures.extend(saved["captures"])
        return state

    def push(self, chunk: GopChunk) -> StageOutput:
        """Decode one chunk and feed it on; return the rows it completed.

        Raises DecodeError (the stream's state is unchanged but for the decoder's reset)."""
        return self.feed(chunk, *self.decode(chunk))

    def decode(self, chunk: GopChunk) -> tuple:
        """Decode one chunk: (FrameBatch, samples). Touches only the decoder, so the worker runs
        it on its decode-ahead thread. Raises DecodeError."""
        return self.stages.decode(chunk)

    def feed(self, chunk: GopChunk, batch, samples) -> StageOutput:
        """Feed a decoded chunk to the segmenter and analyzer; return the rows it completed."""
        if chunk.capture_time is not None and chunk.frame_rate:
            self.captures.append((chunk.first_frame, chunk.capture_time, float(chunk.frame_rate)))
        out = self.stages.process(batch, samples)
        self.frames += len(batch)
        self.chunks += 1
        return out

    def finish(self) -> StageOutput:
        return self.stages.finish()

    def captured_at(self, frame: int) -> float | None:
        """Wall-clock time frame `frame` (of this stream) was captured by: the end of that frame
        (None when its chunk carried no capture time, as for a VOD file sent at full speed)."""
        for first_frame, capture_time, rate in reversed(self.captures):
            if first_frame <= frame:
                return capture_time + (frame - first_frame + 1) / rate
        return None


@dataclass
class WorkerStats:
    chunks: int = 0  # chunks decoded and segmented
    frames: int = 0
    duplicates: int = 0  # chunks skipped as producer retries (seq not above the last seen)
    replayed: int = 0  # chunks skipped as already in a restored checkpoint (a replay)
    restored: int = 0  # streams continued from their checkpoints
    dead_letters: int = 0  # messages sent to the DLQ
    rows_written: int = 0  # new scene rows (replays that the store already had are not counted)
    streams_finished: int = 0
    commits: int = 0
    store_retries: int = 0  # store writes retried after a StoreError
    dlq_reasons: list[str] = field(default_factory=list)
    #: monotonic times of the first record received and of the last commit or stream finish
    #: (the window the worker was busy in, for throughput)
    first_record_at: float | None = None
    last_commit_at: float | None = None
    #: capture-to-row seconds of recent scene rows (live and --realtime chunks only; not the
    #: last scene of a finished stream, which waited for the stream's end, not for the worker)
    latencies: deque = field(default_factory=lambda: deque(maxlen=100_000))
    #: capture-to-commit seconds of recent chunks (live and --realtime chunks only)
    chunk_latencies: deque = field(default_factory=lambda: deque(maxlen=100_000))

    @property
    def busy_s(self) -> float:
        """Seconds from the first record received to the last commit (0 before both)."""
        if self.first_record_at is None or self.last_commit_at is None:
            return 0.0
        return max(0.0, self.last_commit_at - self.first_record_at)

    def summary(self) -> str:
        return (f"{self.chunks} chunks, {self.frames} frames, {self.duplicates} duplicates skipped, "
                f"{self.dead_letters} to the DLQ, {self.rows_written} scene rows written, "
                f"{self.streams_finished} streams finished, {self.commits} offset commits, "
                f"{self.store_retries} store retries, {self.restored} streams restored from "
                f"checkpoints, {self.replayed} replayed chunks skipped")


class ChunkWorker:
    """Consumes the chunk topic in a consumer group and stores each stream's scenes.

    `store` is a `vstream.store.ClickHouseWriter` (see `open_store`). `shots`, `model` (a
    `--model` name), `checkpoint` and `analysis_fps` pick the stages as `vstream index` does,
    and with them the rows' model_version. `metrics` receives the
    worker's counters (a private, unserved `Metrics` when None). A failed store write is retried
    after `backoff_s(attempt, cap=max_store_backoff_s)` seconds. Stored events and scenes are
    published as JSON to `events_topic` (`vstream.kafka.events`; "" or None: not published).
    """

    def __init__(self, bootstrap: str, topic: str, store, *, group: str = DEFAULT_GROUP,
                 shots: str = "combined", model: str = DEFAULT_MODEL,
                 checkpoint: str | None = None, analysis_fps: float = DEFAULT_ANALYSIS_FPS,
                 poll_timeout_s: float = 0.5,
                 max_poll_records: int = 50, metrics: Metrics | None = None,
                 max_store_backoff_s: float = 10.0,
                 events_topic: str | None = EVENTS_TOPIC) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.dlq = dlq_topic(topic)
        self.store = store
        self.group = group
        self.shots = shots
        self.model = model
        self.frame_model = load_frame_model(model, checkpoint)
        self.analysis_fps = analysis_fps
        self.model_version = row_version(shots, self.frame_model)
        self.gallery = None  # loaded from the store when run() starts
        self.poll_timeout_s = poll_timeout_s
        self.max_poll_records = max_poll_records
        self.streams: dict[str, StreamState] = {}
        self.stats = WorkerStats()
        self.metrics = metrics if metrics is not None else Metrics()
        self.max_store_backoff_s = max_store_backoff_s
        self.events = (EventPublisher(bootstrap, events_topic, metrics=self.metrics)
                       if events_topic else None)
        self._stop = threading.Event()
        #: set once the group has given this worker its partitions (it is consuming)
        self.ready = threading.Event()
        self._lag_at = 0.0
        self._consumer = None
        self._producer = None
        #: set by the rebalance listener when partitions are assigned (restarts the idle clock)
        self._rebalanced = False

    # -- Kafka clients -------------------------------------------------------------------------

    def _connect(self) -> None:
        from kafka import KafkaConsumer, KafkaProducer
        from kafka.errors import NoBrokersAvailable

        try:
            self._consumer = KafkaConsumer(
                bootstrap_servers=self.bootstrap, group_id=self.group,
                client_id="vstream-worker", enable_auto_commit=False,
                auto_offset_reset="earliest", max_poll_records=self.max_poll_records,
                # one GOP is well under 1 MB, but allow big ones
                max_partition_fetch_bytes=16 * 1024 * 1024,
                fetch_max_bytes=FETCH_MAX_BYTES,
                # kafka-python 2.3 drops any response over 1 MB by default ("Invalid frame
                # length"), and a fetch of many GOPs over several partitions is bigger (seen:
                # 2.2 MB from Tansu); allow headroom as brokers may overshoot fetch_max_bytes by
                # a partition's worth.
                receive_message_max_bytes=FETCH_MAX_BYTES + 16 * 1024 * 1024,
            )
            self._consumer.subscribe([self.topic], listener=_Rebalance(self))
            self._producer = KafkaProducer(
                bootstrap_servers=self.bootstrap, client_id="vstream-worker-dlq", acks="all",
                max_in_flight_requests_per_connection=1, max_request_size=16 * 1024 * 1024)
        except NoBrokersAvailable as ex:
            self._close_clients()
            raise BrokerUnavailableError(
                f"no Kafka broker answers at {self.bootstrap} (start one, or point --kafka / "
                "VSTREAM_KAFKA at it)") from ex

    def _close_clients(self) -> None:
        if self.events is not None:
            self.events.close()
        if self._producer is not None:
            self._producer.close(timeout=10)  # flushes the DLQ
            self._producer = None
        if self._consumer is not None:
            self._consumer.close(autocommit=False)  # only what run() committed counts
            self._consumer = None

    # -- the loop ------------------------------------------------------------------------------

    def run(self, stop_event: threading.Event | None = None,
            max_idle_s: float | None = None) -> WorkerStats:
        """Consume until `stop_event` is set, or until `max_idle_s` pass with no message.

        Stopped by `stop_event`: commits what was written and returns; open streams are not
        finished (their checkpoints let the next worker continue them). Idle for `max_idle_s`
        (counted from when the group last gave this worker partitions): finishes every stream
        of its partitions, those in memory and those only checkpointed (last scenes and
        `streams` rows), commits, returns. Returns the running stats.
        """
        stop_event = self._stop = stop_event or threading.Event()
        if self.frame_model is not None and self.gallery is None:
            self.gallery = self._retry_store(
                lambda: load_gallery(self.store, self.frame_model, match_threshold(self.model)),
                "loading the people gallery")
        if self.events is not None:
            self.events.open()  # creates the events topic at start, not at the first scene
        self._connect()
        idle_since: float | None = None
        try:
            while not stop_event.is_set():
                polled = self._consumer.poll(timeout_ms=int(self.poll_timeout_s * 1000))
                if polled:
                    idle_since = None
                    if self.stats.first_record_at is None:
                        self.stats.first_record_at = time.monotonic()
                    self.ready.set()
                    self._handle(polled)
                    self._update_lag()
                    continue
                if not self._consumer.assignment():  # still joining the group
                    continue
                if self._rebalanced:  # new partitions may bring a backlog: idle counts anew
                    self._rebalanced, idle_since = False, None
                self.ready.set()
                self._update_lag()
                now = time.monotonic()
                idle_since = idle_since or now
                if max_idle_s is not None and now - idle_since >= max_idle_s:
                    self._finish_all(max_idle_s)
                    break
        except _Stopped:
            log.warning("stopped while the store was down: the chunks since the last commit "
                        "will be consumed again")
        finally:
            self._close_clients()
        log.info("worker stops: %s", self.stats.summary())
        return self.stats

    def _handle(self, polled: dict) -> None:
        """Process one poll batch, write its rows, then commit its offsets."""
        from kafka.structs import OffsetAndMetadata

        from kafka.errors import CommitFailedError

        rows: list[tuple[StreamState, StageOutput]] = []
        offsets = {tp: records[-1].offset + 1 for tp, records in polled.items() if records}
        captured: list[float] = []  # capture times of this batch's chunks
        records = [record for batch in polled.values() for record in batch]
        self._load_checkpoints(records)
        touched: dict[str, StreamState] = {}  # streams whose state this batch moved on
        # As in `vstream index`: FFmpeg decodes the next chunks on a thread (it releases the
        # GIL) while this one is segmented; each stream's chunks stay in order on both sides.
        for item in read_ahead(lambda: self._decoded(records, touched), depth=4,
                               name="worker-decode"):
            rows += self._segment(item, captured)
        # The order makes every crash safe. Rows first: a crash before the checkpoint replays
        # the chunks from the old checkpoint, which makes the same rows (skipped by row_id).
        # Dead letters next: a chunk in a checkpoint is never replayed, so its letter must be
        # out. Checkpoints before the commit: a crash before the commit replays chunks that
        # the checkpoints already hold, skipped by seq.
        if rows:
            self._write_rows(rows)
        self._producer.flush()
        self._write_checkpoints(list(touched.values()))
        # A partition revoked meanwhile (a rebalance during a store outage) is not ours to
        # commit: its new owner replays from the last commit and the checkpoints.
        assigned = self._consumer.assignment()
        try:
            self._consumer.commit({tp: OffsetAndMetadata(off, "", -1)
                                   for tp, off in offsets.items() if tp in assigned})
        except CommitFailedError as ex:
            log.warning("offset commit refused (%s): the group rebalanced; the new owners "
                        "replay these chunks and skip them by their checkpoints",
                        " ".join(str(ex).split())[:200])
        self.stats.commits += 1
        self.metrics.commits.inc()
        self.stats.last_commit_at = time.monotonic()
        now = time.time()
        for capture_time in captured:
            self.metrics.chunk_latency.observe(max(0.0, now - capture_time))
            self.stats.chunk_latencies.append(max(0.0, now - capture_time))
        log.debug("committed %s", {f"{tp.topic}/{tp.partition}": o for tp, o in offsets.items()})

    def _write_rows(self, rows: list[tuple[StreamState, StageOutput]], *,
                    stream_end: bool = False) -> int:
        """Write the rows of (stream, stage output) pairs, retrying while the store is down;
        return the new rows.

        `stream_end`: the rows were closed by finishing a stream, so their latency measures how
        long the stream stayed quiet, not the worker: not observed."""
        new = self._retry_store(
            lambda: sum(write_output(self.store, state.stream_id, self.model_version, out,
                                     self.gallery) for state, out in rows),
            f"writing the rows of {len(rows)} chunks")
        if self.events is not None:  # after the store write, before the commit: at-least-once
            self.events.publish([(state.stream_id, out) for state, out in rows], self.model_version)
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

    def _retry_store(self, write: Callable[[], T], what: str) -> T:
        """Run `write` until it succeeds; on StoreError wait (back-off with jitter) and retry.

        While waiting, this worker's partitions are paused and the consumer polled, so the group
        does not evict it (max.poll.interval) and nothing new is fetched. Raises _Stopped when
        the stop event is set during an outage (the caller then commits nothing).
        """
        attempt = 0
        down_since: float | None = None
        while True:
            try:
                result = write()
            except StoreError as ex:
                down_since = down_since or time.monotonic()
                delay = backoff_s(attempt, cap=self.max_store_backoff_s)
                attempt += 1
                self.stats.store_retries += 1
                self.metrics.store_retries.inc()
                log.warning("store error while %s (attempt %d, down %.1f s): %s; retrying in "
                            "%.1f s, offsets not committed", what, attempt,
                            time.monotonic() - down_since, ex, delay)
                self._wait_paused(delay)
                continue
            if down_since is not None:
                log.warning("store back after %.1f s and %d retries: %s done",
                            time.monotonic() - down_since, attempt, what)
            return result

    def _wait_paused(self, seconds: float) -> None:
        consumer = self._consumer
        deadline = time.monotonic() + seconds
        if consumer is None:  # finish_stream called outside run()
            if self._stop.wait(seconds):
                raise _Stopped
            return
        paused = consumer.assignment()
        consumer.pause(*paused)
        try:
            while True:
                if self._stop.is_set():
                    raise _Stopped
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                # Paused partitions return nothing (and records already fetched for them are
                # dropped, not skipped: the position has not moved past them). A partition
                # assigned by a rebalance meanwhile is not paused: rewind what it returns.
                got = consumer.poll(timeout_ms=int(min(left, 0.5) * 1000))
                for tp, records in got.items():
                    consumer.seek(tp, records[0].offset)
        finally:
            consumer.resume(*paused)

    def _update_lag(self) -> None:
        """Refresh the consumer lag gauge (end offset - position per assigned partition)."""
        now = time.monotonic()
        if now - self._lag_at < LAG_INTERVAL_S:
            return
        self._lag_at = now
        from kafka.errors import KafkaError as _ClientError

        assigned = self._consumer.assignment()
        if not assigned:
            return
        try:
            ends = self._consumer.end_offsets(list(assigned))
            for tp in assigned:
                position = self._consumer.position(tp)
                self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(
                    max(0, ends.get(tp, position) - position))
        except _ClientError as ex:  # a metric is not worth stopping for; next refresh retries
            log.debug("consumer lag not updated: %s", ex)

    # -- checkpoints and rebalancing -------------------------------------------------------------

    def _restore_stages(self, data: bytes, frame_rate: float) -> StreamStages:
        return StreamStages.restore(data, frame_rate, shots=self.shots, model=self.frame_model,
                                    gallery=self.gallery, analysis_fps=self.analysis_fps)

    def _load_checkpoint(self, stream_id: str) -> StreamState | None:
        """The stream's state from its newest checkpoint (None: none, finished, or unreadable,
        and then the stream starts afresh where its chunks resume)."""
        checkpoint = self._retry_store(
            lambda: self.store.checkpoint(self.topic, stream_id, self.model_version),
            f"reading the checkpoint of {stream_id}")
        if checkpoint is None or checkpoint.finished:
            return None
        try:
            state = StreamState.restore(checkpoint, self._restore_stages)
        except SnapshotError as ex:
            log.warning("stream %s: checkpoint not restored (%s); it starts with a fresh state "
                        "at the committed offset", stream_id, ex)
            return None
        if state.stages.analyzer is not None:
            oldest = state.stages.analyzer.oldest_pending_frame()
            self._retry_store(lambda: remember_people(state.stages, self.store, oldest),
                              f"reading the stored tracks of {stream_id}")
        self.stats.restored += 1
        log.info("stream %s: restored from its checkpoint (seq %d, partition %d offset %d, "
                 "%d frames)", stream_id, state.last_seq, state.partition, state.next_offset,
                 state.frames)
        return state

    def _load_checkpoints(self, records: list) -> None:
        """Restore the streams of `records` that have no state here from their checkpoints
        (on this thread: the store is not used from the decode thread)."""
        seen: set[str] = set()
        for record in records:
            if record.key is None:
                continue
            stream_id = record.key.decode("utf-8", "replace")  # the producer keys by stream ID
            if stream_id in self.streams or stream_id in seen:
                continue
            seen.add(stream_id)
            state = self._load_checkpoint(stream_id)
            if state is not None:
                self.streams[stream_id] = state

    def _write_checkpoints(self, states: list[StreamState]) -> None:
        """Write the checkpoints of `states` (those of partitions still ours)."""
        assigned = {tp.partition for tp in self._consumer.assignment()}
        checkpoints = [
            StreamCheckpoint(self.topic, state.stream_id, self.model_version, state.partition,
                             state.next_offset, state.last_seq, False, state.snapshot())
            for state in states if state.partition in assigned]
        if checkpoints:
            self._retry_store(lambda: [self.store.write_checkpoint(c) for c in checkpoints],
                              f"writing {len(checkpoints)} stream checkpoints")

    def _revoked(self, partitions) -> None:
        """The group takes `partitions` away (in poll, between batches: all written and
        committed). Their streams' states are dropped: the next owner continues them from
        their checkpoints, and so would this worker if they come back."""
        gone = {tp.partition for tp in partitions if tp.topic == self.topic}
        dropped = [sid for sid, state in self.streams.items() if state.partition in gone]
        for stream_id in dropped:
            del self.streams[stream_id]
        if partitions:
            log.info("partitions %s revoked; %d stream states dropped (checkpointed)",
                     sorted(gone), len(dropped))

    def _assigned(self, partitions) -> None:
        """The group gives this worker `partitions`; their streams are restored lazily, from
        their checkpoints, when their chunks arrive."""
        self._rebalanced = True
        log.info("partitions %s assigned", sorted(tp.partition for tp in partitions))

    def _finish_all(self, idle_s: float) -> None:
        """The topic stayed idle: finish every stream of this worker's partitions, also those
        known only from a checkpoint (the worker that ran them stopped after their last chunk)."""
        assigned = {tp.partition for tp in self._consumer.assignment()}
        waiting = self._retry_store(
            lambda: self.store.open_checkpoints(self.topic, self.model_version),
            "listing open stream checkpoints")
        for stream_id, partition in waiting:
            if stream_id not in self.streams and partition in assigned:
                state = self._load_checkpoint(stream_id)
                if state is not None:
                    self.streams[stream_id] = state
        log.info("no message for %.1f s: finishing %d streams", idle_s, len(self.streams))
        for stream_id in list(self.streams):
            self.finish_stream(stream_id)

    def _decoded(self, records: list, touched: dict[str, StreamState]) -> Iterator[tuple]:
        """Parse, deduplicate and decode messages in order (on the decode-ahead thread).

        Yields ("dead", record, kind, reason) for a message to dead-letter and ("ok", record,
        chunk, state, batch, samples) for a decoded chunk; a duplicate yields nothing. Only the
        decoders, `last_seq` and the stream's offsets are touched here; segmenters only on the
        caller's thread. Streams whose state moves on are added to `touched`.
        """
        for record in records:
            try:
                chunk = GopChunk.from_bytes(record.value or b"")
            except ChunkFormatError as ex:
                yield ("dead", record, "ChunkFormatError", f"ChunkFormatError: {ex}")
                continue
            state = self.streams.get(chunk.stream_id)
            if (state is not None and chunk.seq <= state.last_seq
                    and record.partition == state.partition and record.offset < state.resume_offset):
                # consumed again after a restart or rebalance: its checkpoint holds it already
                self.stats.replayed += 1
                log.debug("%s: chunk %d is in the checkpoint, skipped", chunk.stream_id, chunk.seq)
                continue
            if state is not None and chunk.seq <= state.last_seq:
                self.stats.duplicates += 1
                self.metrics.chunks_dropped.labels("duplicate").inc()
                log.info("%s: chunk %d again (last seen %d): a producer retry, skipped",
                         chunk.stream_id, chunk.seq, state.last_seq)
                continue
            if state is None:
                stages = StreamStages(chunk.stream_id, float(chunk.frame_rate), shots=self.shots,
                                      model=self.frame_model, gallery=self.gallery,
                                      analysis_fps=self.analysis_fps)
                # rows a crashed run stored before its first checkpoint keep their identities
                self._retry_store(lambda: remember_people(stages, self.store),
                                  f"reading the stored tracks of {chunk.stream_id}")
                state = self.streams[chunk.stream_id] = StreamState(
                    chunk.stream_id, stages, StreamInfo.of(chunk))
                log.info("stream %s: first chunk (seq %d, %s %dx%d)", chunk.stream_id, chunk.seq,
                         chunk.codec, chunk.width, chunk.height)
            state.last_seq = chunk.seq
            state.partition, state.next_offset = record.partition, record.offset + 1
            touched[chunk.stream_id] = state
            try:
                batch, samples = state.decode(chunk)
            except DecodeError as ex:
                yield ("dead", record, "DecodeError", f"DecodeError: {ex}")
                continue
            yield ("ok", record, chunk, state, batch, samples)

    def _segment(self, item: tuple, captured: list[float]) -> list[tuple[StreamState, StageOutput]]:
        """One item of `_decoded`: [(stream, the rows it completed)]. A chunk's capture time is
        appended to `captured`."""
        if item[0] == "dead":
            _, record, kind, reason = item
            self._dead_letter(record, kind, reason)
            return []
        _, record, chunk, state, batch, samples = item
        out = state.feed(chunk, batch, samples)
        self.stats.chunks += 1
        self.stats.frames += len(chunk.packets)
        self.metrics.chunks_processed.labels(chunk.stream_id).inc()
        self.metrics.frames_processed.labels(chunk.stream_id).inc(len(chunk.packets))
        if chunk.capture_time is not None:
            captured.append(chunk.capture_time)
        return [(state, out)]

    def _dead_letter(self, record, kind: str, reason: str) -> None:
        reason = " ".join(reason.split())[:500]  # one line
        self.stats.dead_letters += 1
        self.stats.dlq_reasons.append(reason)
        self.metrics.dlq_messages.labels(kind).inc()
        self.metrics.chunks_dropped.labels("format" if kind == "ChunkFormatError" else "decode").inc()
        log.warning("%s/%d@%d to %s: %s", record.topic, record.partition, record.offset, self.dlq,
                    reason)
        headers = [("reason", reason.encode()), ("source_topic", record.topic.encode()),
                   ("source_partition", str(record.partition).encode()),
                   ("source_offset", str(record.offset).encode())]
        self._producer.send(self.dlq, key=record.key, value=record.value or b"", headers=headers)

    def finish_stream(self, stream_id: str) -> int:
        """Close `stream_id`: write its last scenes and its `streams` row; return new scene rows."""
        from vstream.store.rows import StreamRow

        state = self.streams[stream_id]
        out = state.finish()
        new = self._write_rows([(state, out)], stream_end=True)
        first = state.info
        row = StreamRow(
            stream_id=stream_id, source=redact_url(first.source), codec=first.codec,
            width=first.width, height=first.height, fps=float(first.frame_rate),
            frames=state.frames, duration_s=state.last_end_s,
            model_version=self.model_version)
        self._retry_store(lambda: self.store.write_stream(row), f"the streams row of {stream_id}")
        if state.partition >= 0:
            # After its rows: a crash before this leaves an open checkpoint, and the next idle
            # worker finishes the stream again (same rows, skipped by row_id).
            done = StreamCheckpoint(self.topic, stream_id, self.model_version, state.partition,
                                    state.next_offset, state.last_seq, True, b"")
            self._retry_store(lambda: self.store.write_checkpoint(done),
                              f"the last checkpoint of {stream_id}")
        del self.streams[stream_id]
        self.stats.last_commit_at = time.monotonic()
        self.stats.streams_finished += 1
        log.info("stream %s finished: %d chunks, %d frames", stream_id, state.chunks, state.frames)
        return new


class _Rebalance(ConsumerRebalanceListener):
    """Hands kafka-python's rebalance callbacks (run inside `poll`) to the worker."""

    def __init__(self, worker: ChunkWorker) -> None:
        self.worker = worker

    def on_partitions_revoked(self, revoked) -> None:
        self.worker._revoked(revoked)

    def on_partitions_assigned(self, assigned) -> None:
        self.worker._assigned(assigned)
