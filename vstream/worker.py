"""The Kafka driver: a faust-streaming app that turns the chunk topic into rows.

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

The app (`faust.App`, id = the consumer group) has one agent on the chunk topic and one table,
`stream_state-<topic>` (changelog topic `<group>-stream_state-<topic>-changelog`, co-partitioned
with the chunk topic: both are keyed by stream ID). The agent takes the chunks in batches of up to
`max_poll_records` (`Stream.noack_take`) and hands each batch to a thread (decoding, the network
and the store are blocking work; the event loop keeps the group membership and the fetcher
going). For each batch, in this order: the rows are written, the dead letters acknowledged, the
state of every stream the batch moved on is put in the table (`StreamState.snapshot`: shot
detector history, open scene, trackers, frames waiting for analysis, last seq, counters; never a
model or an FFmpeg context), and only then are the batch's messages acked. faust commits acked
offsets every `commit_interval_s`, after flushing its producer, so the table's changelog is on
the broker before the offsets that depend on it.

So a worker killed at any point (SIGKILL included) and restarted, or replaced by another member
of its group, writes exactly the rows of an uninterrupted run: a crash before the state reached
the changelog replays the chunks from the older state and makes the same rows (skipped by
row_id); a crash after it, before the commit, replays chunks that the state already holds (their
seq is at or below the state's last seq and their offset below its resume offset: skipped). On a
rebalance faust waits for the batch in flight, then the worker drops the states of revoked
partitions; the new owner recovers the table partitions from the changelog before it consumes.
A chunk whose seq is not above the last seq seen and that is not such a replay is a producer
retry: skipped.

A message that is not a chunk (ChunkFormatError) or that FFmpeg cannot decode (DecodeError) goes
to `<topic>.dlq` with headers `reason`, `source_topic`, `source_partition`, `source_offset`; the
worker carries on.

Store outages: a write that fails with StoreError (server down, connection lost) is retried with
exponential back-off and jitter (capped at `max_store_backoff_s`), each failure logged, for as
long as the store stays down. Nothing of the batch is acked meanwhile, so nothing is committed;
faust's bounded stream buffer stops the fetcher, and its consumer thread keeps the membership.
Stopping the worker during an outage loses nothing (the chunks are replayed).

Metrics (`vstream.metrics.Metrics`, served by `vstream worker --metrics-port`): chunks and frames
per stream, rows written, consumer lag per partition, capture-to-row latency, drops and dead
letters by reason, store retries, commits.

With a frame model the shared people gallery is not part of a stream's state (it is stored as
`people` rows after each batch), so a replayed batch can see people it already added.

Streams never end on Kafka: `run(max_idle_s=...)` finishes every stream of the worker's
partitions when the topic stays idle (last scene, `streams` row; its table entry is deleted),
also those it knows only from the table (their worker stopped after their last chunk).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any, TypeVar

from faust.types import TP

from vstream.backoff import backoff_s
from vstream.chunk import GopChunk
from vstream.errors import ChunkFormatError, DecodeError, StoreError
from vstream.kafka.clients import kafka_consumer, kafka_producer
from vstream.kafka.errors import BrokerUnavailableError
from vstream.kafka.events import EventPublisher
from vstream.kafka.faust_app import CommitSensor, RewindingApp, committed_offsets
from vstream.kafka.topics import EVENTS_TOPIC, dlq_topic
from vstream.metrics import Metrics
from vstream.redact import redact_url
from vstream.store.rows import COMPLETE, PARTIAL
from vstream.detect.models import DEFAULT_MODEL, load_frame_model, match_threshold
from vstream.stages import (
    DEFAULT_ANALYSIS_FPS, SnapshotError, StageOutput, StreamStages, load_gallery, pack_state,
    remember_people, row_version, unpack_state, write_output,
)
from vstream.threads import read_ahead

log = logging.getLogger(__name__)

DEFAULT_GROUP = "vstream-workers"
#: the faust table of per-stream states is `stream_state-<topic>` (see `state_changelog`)
STATE_TABLE = "stream_state"
#: bound of one fetch response per partition (one GOP is well under 1 MB, but allow big ones)
MAX_FETCH_BYTES = 16 * 1024 * 1024
#: largest produce request: a stream's state is ~1.3 MB with the fast detector's rings
MAX_REQUEST_BYTES = 64 * 1024 * 1024
#: how often the consumer lag gauge is refreshed
LAG_INTERVAL_S = 2.0
#: how often faust commits the offsets of acked chunks
COMMIT_INTERVAL_S = 1.0
#: chunks per stream whose capture times are kept to date the frames of closing scenes
_CAPTURE_ANCHORS = 256
#: how long a worker that sought back over a gap waits for the missing message
REWIND_TIMEOUT_S = 30.0
#: the group evicts a member that sent no heartbeat for this long (a SIGKILLed worker's
#: partitions move after it)
SESSION_TIMEOUT_S = 10.0

T = TypeVar("T")


class _Stopped(Exception):
    """stop_event was set while a store write was being retried: leave without acking."""


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
    chunk, or restored from the state table)."""

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
    #: offset after the last chunk of the saved state this one was restored from (-1: none):
    #: a chunk below it with seq <= last_seq is a replay of an applied chunk, not a retry
    resume_offset: int = -1
    #: chunks FFmpeg could not decode (dead-lettered, left out as a gap), and why the first was
    skipped: int = 0
    skip_reason: str = ""

    def snapshot(self, model_version: str) -> bytes:
        """The state at a chunk boundary (after `feed`) as bytes: the stages' snapshot and the
        worker's own bookkeeping of the stream, tagged with the rows' `model_version`."""
        return pack_state({
            "stream_id": self.stream_id, "model_version": model_version,
            "info": asdict(self.info), "last_seq": self.last_seq, "frames": self.frames,
            "chunks": self.chunks, "last_end_s": self.last_end_s,
            "captures": list(self.captures), "partition": self.partition,
            "next_offset": self.next_offset, "skipped": self.skipped,
            "skip_reason": self.skip_reason, "stages": self.stages.snapshot(),
        }, level=0)  # the stages' snapshot is compressed already

    @classmethod
    def restore(cls, data: bytes, model_version: str,
                make_stages: Callable[..., StreamStages]) -> StreamState:
        """The state `snapshot` saved; `make_stages(data, frame_rate)` restores the stages with
        the worker's shared model and gallery. Raises SnapshotError (also when the state was
        made by other stages than `model_version`'s)."""
        saved = unpack_state(data)
        if saved.get("model_version") != model_version:
            raise SnapshotError(f"the state was made by {saved.get('model_version')}, this "
                                f"worker makes {model_version}")
        info = StreamInfo(**saved["info"])
        state = cls(saved["stream_id"], make_stages(saved["stages"], float(info.frame_rate)),
                    info, last_seq=int(saved["last_seq"]), frames=int(saved["frames"]),
                    chunks=int(saved["chunks"]), last_end_s=float(saved["last_end_s"]),
                    partition=int(saved["partition"]), next_offset=int(saved["next_offset"]),
                    resume_offset=int(saved["next_offset"]),
                    skipped=int(saved.get("skipped", 0)),
                    skip_reason=str(saved.get("skip_reason", "")))
        state.captures.extend(saved["captures"])
        return state

    @staticmethod
    def partition_of(data: bytes) -> int:
        """The partition of the stream whose state `data` is (-1 when unreadable)."""
        try:
            return int(unpack_state(data)["partition"])
        except (SnapshotError, KeyError, TypeError, ValueError):
            return -1

    def decode(self, chunk: GopChunk) -> tuple:
        """Decode one chunk: (FrameBatch, samples). Touches only the decoder, so the worker runs
        it on its decode-ahead thread. Raises DecodeError."""
        return self.stages.decode(chunk)

    def feed(self, chunk: GopChunk, batch, samples) -> StageOutput:
        """Feed a decoded chunk to the segmenter and analyzer; return the rows it completed."""
        if chunk.capture_time is not None and chunk.frame_rate:
            self.captures.append((chunk.first_frame, chunk.capture_time, float(chunk.frame_rate)))
        out = self.stages.process(batch, samples, chunk)  # the chunk: for its stream gap, if any
        self.frames += len(batch)
        self.chunks += 1
        return out

    def skip(self, chunk: GopChunk, reason: str) -> None:
        """Leave out a chunk FFmpeg could not decode: its frames are a gap, marked by a
        `stream_gap` event where video resumes, and the stream ends `partial` (as `vstream index`
        does with a damaged file)."""
        self.stages.skip(chunk, f"chunk {chunk.seq} skipped: {reason}")
        self.skipped += 1
        self.skip_reason = self.skip_reason or " ".join(reason.split())

    def finish(self) -> StageOutput:
        return self.stages.finish()

    @property
    def status(self) -> tuple[str, str]:
        """(status, status_reason) of the stream's `streams` row."""
        if not self.skipped:
            return COMPLETE, ""
        many = "s" if self.skipped > 1 else ""
        return PARTIAL, (f"{self.frames} frames indexed; {self.skipped} undecodable chunk{many} "
                         f"skipped ({self.skip_reason})")

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
    replayed: int = 0  # chunks skipped as already in a restored state (a replay)
    restored: int = 0  # streams continued from their saved states
    dead_letters: int = 0  # messages sent to the DLQ
    rows_written: int = 0  # new scene rows (replays that the store already had are not counted)
    streams_finished: int = 0
    commits: int = 0
    store_retries: int = 0  # store writes retried after a StoreError
    dlq_reasons: list[str] = field(default_factory=list)
    #: monotonic times of the first record received and of the end of the last batch, and the
    #: seconds spent finishing streams at idle exit: the worker's busy time, for throughput
    first_record_at: float | None = None
    last_batch_at: float | None = None
    finish_s: float = 0.0
    #: capture-to-row seconds of recent scene rows (live and --realtime chunks only; not the
    #: last scene of a finished stream, which waited for the stream's end, not for the worker)
    latencies: deque = field(default_factory=lambda: deque(maxlen=100_000))
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
        return (f"{self.chunks} chunks, {self.frames} frames, {self.duplicates} duplicates skipped, "
                f"{self.dead_letters} to the DLQ, {self.rows_written} scene rows written, "
                f"{self.streams_finished} streams finished, {self.commits} offset commits, "
                f"{self.store_retries} store retries, {self.restored} streams restored from "
                f"their saved state, {self.replayed} replayed chunks skipped")


def state_table(topic: str) -> str:
    """The name of the faust table of the stream states of `topic`'s streams: one per chunk
    topic, so a group that consumes two topics never mixes up their streams."""
    return f"{STATE_TABLE}-{topic}"


def state_changelog(group: str, topic: str) -> str:
    """The changelog topic (faust's naming) of the stream states of `group` on `topic`."""
    return f"{group}-{state_table(topic)}-changelog"


def topic_partitions(bootstrap: str, topic: str, timeout_s: float = 10.0) -> int:
    """The partition count of `topic` (which must exist). Raises BrokerUnavailableError."""
    consumer = kafka_consumer(bootstrap, client_id="vstream-worker-meta")
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            partitions = consumer.partitions_for_topic(topic)
            if partitions:
                return len(partitions)
            if time.monotonic() > deadline:
                raise BrokerUnavailableError(f"topic {topic!r} does not exist on {bootstrap}")
            time.sleep(0.2)
    finally:
        consumer.close()


class ChunkWorker:
    """Consumes the chunk topic in a consumer group and stores each stream's scenes.

    `store` is a `vstream.store.ClickHouseWriter` (see `open_store`). `shots`, `model` (a
    `--model` name), `checkpoint` and `analysis_fps` pick the stages as `vstream index` does,
    and with them the rows' model_version. `metrics` receives the worker's counters (a private,
    unserved `Metrics` when None). A failed store write is retried after
    `backoff_s(attempt, cap=max_store_backoff_s)` seconds. Stored events and scenes are published
    as JSON to `events_topic` (`vstream.kafka.events`; "" or None: not published). Chunks are
    taken in batches of up to `max_poll_records`, or what arrived within `poll_timeout_s`.
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
        #: set while the group has given this worker its partitions and their states are
        #: recovered (it is consuming; cleared while a rebalance runs)
        self.ready = threading.Event()
        self._producer = None  # kafka-python, for dead letters (acknowledged per batch)
        self._app = None
        self._table = None
        #: one batch or stream finish at a time; rebalances wait for it
        self._lock: asyncio.Lock | None = None
        self._crashed: BaseException | None = None
        self._closing = False
        #: monotonic time of the last batch or assignment (the idle clock starts anew there)
        self._active_at = 0.0
        #: per partition of the chunk topic, the offset after the last message taken to process
        #: since the partition was assigned (messages come again after faust's seeks)
        self._next: dict[int, int] = {}
        #: partitions sought back over a gap, and until when the missing message may come
        self._seeking: dict[int, float] = {}
        #: capture times of chunks acked since the last commit (their capture-to-commit latency)
        self._uncommitted_captures: list[float] = []

    # -- the loop ------------------------------------------------------------------------------

    def run(self, stop_event: threading.Event | None = None,
            max_idle_s: float | None = None) -> WorkerStats:
        """Consume until `stop_event` is set, or until `max_idle_s` pass with no message.

        Stopped by `stop_event`: commits what was written and returns; open streams are not
        finished (their saved states let the next worker continue them). Idle for `max_idle_s`
        (counted from when the group last gave this worker partitions): finishes every stream
        of its partitions, those in memory and those only in the state table (last scenes and
        `streams` rows), commits, returns. Returns the running stats. Raises
        BrokerUnavailableError when no broker answers or the topic is missing.
        """
        stop_event = self._stop = stop_event or threading.Event()
        partitions = topic_partitions(self.bootstrap, self.topic)
        loop = asyncio.new_event_loop()
        try:
            if self.frame_model is not None and self.gallery is None:
                self.gallery = self._retry_store(
                    lambda: load_gallery(self.store, self.frame_model, match_threshold(self.model)),
                    "loading the people gallery")
            if self.events is not None:
                self.events.open()  # creates the events topic at start, not at the first scene
            self._open_dlq()
            with tempfile.TemporaryDirectory(prefix="vstream-worker-") as datadir:
                loop.run_until_complete(self._serve(partitions, datadir, max_idle_s))
        except _Stopped:
            log.warning("stopped while the store was down: the chunks since the last commit "
                        "will be consumed again")
        finally:
            loop.close()
            self._close_clients()
        if self._crashed is not None:
            raise self._crashed
        log.info("worker stops: %s", self.stats.summary())
        return self.stats

    async def _serve(self, partitions: int, datadir: str, max_idle_s: float | None) -> None:
        self._lock = asyncio.Lock()
        app = self._app = self._make_app(partitions, datadir)
        self._active_at = time.monotonic()
        await app.start()
        lag_at = 0.0
        try:
            while not self._stop.is_set() and self._crashed is None:
                await asyncio.sleep(0.1)
                if not self.ready.is_set():
                    continue
                now = time.monotonic()
                if now - lag_at >= LAG_INTERVAL_S:
                    lag_at = now
                    await self._update_lag()
                if (max_idle_s is not None and not self._lock.locked()
                        and now - self._active_at >= max_idle_s):
                    if await self._fetch_behind():
                        self._active_at = time.monotonic()  # the refetch gets its time
                        continue
                    async with self._lock:
                        self._closing = True  # a batch arriving now stays unacked
                        finished = await asyncio.to_thread(self._finish_all, max_idle_s)
                        # After their rows: a crash before this leaves the states, and the
                        # next idle worker finishes the streams again (same rows, skipped).
                        for key in finished:
                            del self._table[key]
                        await app.producer.flush()
                    break
            async with self._lock:
                self._closing = True
                await self._commit()
                await self._update_lag()
        finally:
            await app.stop()

    def _make_app(self, partitions: int, datadir: str) -> RewindingApp:
        app = RewindingApp(
            self.group, rewind_topics=[self.topic],
            broker=[f"kafka://{host}" for host in self.bootstrap.split(",")], store="memory://",
            datadir=datadir, web_enabled=False, autodiscover=False,
            key_serializer="raw", value_serializer="raw", topic_partitions=partitions,
            topic_replication_factor=1, consumer_auto_offset_reset="earliest",
            broker_commit_interval=COMMIT_INTERVAL_S, broker_session_timeout=SESSION_TIMEOUT_S,
            broker_heartbeat_interval=1.0, broker_rebalance_timeout=2 * SESSION_TIMEOUT_S,
            consumer_max_fetch_size=MAX_FETCH_BYTES, producer_max_request_size=MAX_REQUEST_BYTES,
            # bounded memory: faust stops fetching once this many chunks wait for the agent
            stream_buffer_maxsize=2 * self.max_poll_records,
            # the loop must not pause for the table's periodic sweep
            table_cleanup_interval=3600.0,
            # Stopping or a rebalance must not wait for chunks this worker will not ack (those
            # after a store outage or a stop): they are replayed. A rebalance still waits for the
            # batch in flight, by taking the batch lock (`_on_revoked`).
            stream_wait_empty=False,
        )
        topic = app.topic(self.topic, key_type=bytes, value_type=bytes, partitions=partitions)
        # Keyed by stream ID like the chunks, and placed by the producer's partitioner (murmur2,
        # as the ingest's), so a stream's state sits on its chunks' partition number.
        self._table = app.Table(state_table(self.topic), default=None, key_type=bytes,
                                value_type=bytes, partitions=partitions, use_partitioner=True)
        app.agent(topic, name="chunks")(self._consume)
        app.on_partitions_revoked.connect(self._on_revoked)
        app.on_partitions_assigned.connect(self._on_assigned)
        app.on_rebalance_complete.connect(self._on_rebalance_complete)
        app.sensors.add(CommitSensor(self._committed))
        return app

    async def _consume(self, stream) -> None:
        """The agent: batches of chunks in partition order, acked once stored."""
        async for events in stream.noack_take(self.max_poll_records, within=self.poll_timeout_s):
            if self._closing or self._stop.is_set():
                continue  # unacked: replayed by whoever consumes next
            try:
                async with self._lock:
                    if self._closing:
                        continue
                    done = await self._handle(events)
                    # Under the lock: the final commit (which takes it) must see these acks.
                    for event in done:
                        await stream.ack(event)
            except _Stopped:
                self._closing = True  # nothing of this batch is acked
                continue
            except Exception as ex:  # a bug, not bad input: stop rather than skip chunks
                log.exception("worker failed on a batch of %d chunks", len(events))
                self._crashed = ex
                self._closing = True
                continue

    async def _handle(self, events: list) -> list:
        """One batch: restore unknown streams from the table, process the batch on a thread,
        then save the states it moved on. Returns the events processed (to ack)."""
        fetched = len(events)
        events = await self._in_order(events)
        messages = [event.message for event in events]
        if self.stats.first_record_at is None:
            self.stats.first_record_at = time.monotonic()
        self._active_at = time.monotonic()
        saved: dict[str, bytes] = {}
        for message in messages:  # table reads stay on the loop's thread
            if message.key is None:
                continue
            stream_id = message.key.decode("utf-8", "replace")  # the producer keys by stream ID
            if stream_id not in self.streams and stream_id not in saved:
                value = self._table.get(message.key)
                if value is not None:
                    saved[stream_id] = value
        log.debug("batch of %d messages (%d fetched): offsets %s", len(messages), fetched,
                  {p: (min(o), max(o)) for p, o in _offsets_by_partition(messages).items()})
        states, captured = await asyncio.to_thread(self._process, messages, saved)
        assigned = self._assigned_partitions()  # again: it may have changed meanwhile
        for state in states:
            # A partition revoked meanwhile is not ours to save: its new owner continues from
            # what the changelog held when it took the partition, and replays.
            if state.partition in assigned:
                self._table[state.stream_id.encode()] = state.snapshot(self.model_version)
        self._uncommitted_captures += captured
        self._active_at = time.monotonic()
        return events

    async def _in_order(self, events: list) -> list:
        """The events of `events` to process now: each partition's next messages, in order.

        Dropped (never acked): messages of partitions a rebalance took (the new owner consumes
        them, and their streams' states went with the partition); messages fetched again after
        a seek that this worker has processed already (faust seeks back to the committed offset
        at every rebalance); and, after a gap (messages faust's queue clear dropped without a
        seek), everything of that partition until the message at the gap comes again: the
        partition is sought back to it. A message that does not come within REWIND_TIMEOUT_S
        is taken as a hole in the partition (deleted by retention, or not a message)."""
        assigned = self._assigned_partitions()
        keep = []
        now = time.monotonic()
        for event in events:
            message = event.message
            partition, offset = message.partition, message.offset
            if partition not in assigned:
                continue
            expected = self._next.get(partition)
            if expected is not None and offset < expected:
                continue
            if expected is not None and offset > expected:
                deadline = self._seeking.get(partition)
                if deadline is None:
                    log.warning("%s/%d: messages %d-%d were skipped by the consumer: fetching "
                                "them again", self.topic, partition, expected, offset - 1)
                    self._seeking[partition] = now + REWIND_TIMEOUT_S
                    # seek_wait runs on the consumer's thread (faust's `seek` calls aiokafka
                    # from this one, which its fetcher may undo)
                    await self._app.consumer.seek_wait({TP(self.topic, partition): expected})
                    continue
                if now < deadline:
                    continue  # fetched before the seek took effect
                log.warning("%s/%d: no message at offsets %d-%d after %.0f s; going on at %d",
                            self.topic, partition, expected, offset - 1, REWIND_TIMEOUT_S, offset)
            self._seeking.pop(partition, None)
            keep.append(event)
            self._next[partition] = offset + 1
        return keep

    def _process(self, messages: list, saved: dict[str, bytes]) -> tuple[list[StreamState],
                                                                         list[float]]:
        """Decode, segment and store one batch (on a worker thread); return the states it moved
        on and the capture times of its chunks."""
        for stream_id, data in saved.items():
            state = self._restore(stream_id, data)
            if state is not None:
                self.streams[stream_id] = state
        rows: list[tuple[StreamState, StageOutput]] = []
        captured: list[float] = []
        touched: dict[str, StreamState] = {}
        # Admission (parse, drop replays and retries, make new streams' stages, read the
        # store) on this thread; then, as in `vstream index`, FFmpeg decodes the next chunks on
        # a thread (it releases the GIL) while this one is segmented, and that thread touches
        # nothing but the streams' decoders. Each stream's chunks stay in order on both sides.
        admitted = list(self._admitted(messages, touched))
        for item in read_ahead(lambda: _decoded(admitted), depth=4, name="worker-decode"):
            rows += self._segment(item, captured)
        # Rows first: a crash before the states are saved replays the chunks from the old
        # states, which makes the same rows (skipped by row_id). Dead letters next: a chunk in
        # a saved state is never replayed, so its letter must be out.
        if rows:
            self._write_rows(rows)
        self._producer.flush()
        self.stats.last_batch_at = time.monotonic()
        return list(touched.values()), captured

    async def _commit(self) -> None:
        try:
            await self._app.consumer.commit()
        except Exception as ex:  # noqa: BLE001 - the next owner replays, skipped by seq
            log.warning("final offset commit failed (%s): the chunks since the last commit "
                        "will be consumed again", ex)

    def _assigned_partitions(self) -> set[int]:
        return {tp.partition for tp in self._app.consumer.assignment() if tp.topic == self.topic}

    # -- Kafka clients -------------------------------------------------------------------------

    def _open_dlq(self) -> None:
        try:
            self._producer = kafka_producer(
                self.bootstrap, client_id="vstream-worker-dlq", acks="all",
                max_in_flight_requests_per_connection=1, max_request_size=MAX_FETCH_BYTES)
        except BrokerUnavailableError:
            self._close_clients()
            raise

    def _close_clients(self) -> None:
        if self.events is not None:
            self.events.close()
        if self._producer is not None:
            self._producer.close(timeout=10)  # flushes the DLQ
            self._producer = None

    async def _fetch_behind(self) -> bool:
        """Quiet, yet messages wait on a partition (its end offset is past what was processed):
        faust lost them from its queues without a seek. Seek those partitions back to the first
        message not processed; True when there were any. An idle worker only finishes its
        streams when nothing waits."""
        consumer = self._app.consumer
        committed = committed_offsets(consumer)
        behind = {}
        for tp in list(consumer.assignment()):
            if tp.topic != self.topic:
                continue
            end = consumer.highwater(tp)
            done = max(self._next.get(tp.partition, 0), committed.get(tp) or 0)
            if end is not None and end > done:
                behind[tp] = done
        for tp, offset in behind.items():
            log.warning("%s/%d: no message for a while, but offsets %d-%d are there: fetching "
                        "them again", tp.topic, tp.partition, offset, consumer.highwater(tp) - 1)
        if behind:
            await consumer.seek_wait(behind)
        return bool(behind)

    async def _update_lag(self) -> None:
        """Refresh the consumer lag gauge: per assigned partition, its end offset minus where
        the group stands (the offset after the last chunk processed here, or the committed one).
        Not the fetch position: faust fetches ahead of what is processed."""
        consumer = self._app.consumer
        committed = committed_offsets(consumer)
        for tp in list(consumer.assignment()):
            if tp.topic != self.topic:
                continue
            end = consumer.highwater(tp)
            if end is None or end < 0:
                continue
            done = max(self._next.get(tp.partition, 0), committed.get(tp) or 0)
            self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(0, end - done))

    def _committed(self) -> None:
        """faust committed offsets (its sensor calls this on the event loop)."""
        self.stats.commits += 1
        self.metrics.commits.inc()
        now = time.time()
        for capture_time in self._uncommitted_captures:
            self.metrics.chunk_latency.observe(max(0.0, now - capture_time))
            self.stats.chunk_latencies.append(max(0.0, now - capture_time))
        self._uncommitted_captures = []

    # -- rebalancing ---------------------------------------------------------------------------

    async def _on_revoked(self, sender: Any, revoked: set, **_: Any) -> None:
        """The group takes partitions away. faust has waited for the batch in flight (and no
        batch starts during a rebalance); their streams' states are dropped here: the next owner
        continues them from the table, and so would this worker if they come back."""
        gone = {tp.partition for tp in revoked if tp.topic == self.topic}
        self.ready.clear()  # a rebalance is no idle time: the idle clock waits for its end
        async with self._lock:
            dropped = [sid for sid, state in self.streams.items() if state.partition in gone]
            for stream_id in dropped:
                del self.streams[stream_id]
        for partition in gone:  # its lag is the new owner's to report
            self._next.pop(partition, None)
            self._seeking.pop(partition, None)
            try:
                self.metrics.consumer_lag.remove(self.topic, str(partition))
            except KeyError:
                pass
        if gone:
            log.info("partitions %s revoked; %d stream states dropped (saved in the table)",
                     sorted(gone), len(dropped))

    async def _on_assigned(self, sender: Any, assigned: set, **_: Any) -> None:
        """The group gives this worker partitions; their streams are restored lazily, from the
        table, when their chunks arrive."""
        self._active_at = time.monotonic()
        log.info("partitions %s assigned",
                 sorted(tp.partition for tp in assigned if tp.topic == self.topic))

    async def _on_rebalance_complete(self, sender: Any, **_: Any) -> None:
        """The table partitions are recovered from the changelog: consuming starts."""
        self._active_at = time.monotonic()
        self.ready.set()

    # -- saved states --------------------------------------------------------------------------

    def _restore_stages(self, data: bytes, frame_rate: float) -> StreamStages:
        return StreamStages.restore(data, frame_rate, shots=self.shots, model=self.frame_model,
                                    gallery=self.gallery, analysis_fps=self.analysis_fps)

    def _restore(self, stream_id: str, data: bytes) -> StreamState | None:
        """The stream's state from its table entry (None: unreadable, and then the stream
        starts afresh where its chunks resume)."""
        try:
            state = StreamState.restore(data, self.model_version, self._restore_stages)
        except SnapshotError as ex:
            log.warning("stream %s: saved state not restored (%s); it starts with a fresh state "
                        "at the committed offset", stream_id, ex)
            return None
        if state.stages.analyzer is not None:
            oldest = state.stages.analyzer.oldest_pending_frame()
            self._retry_store(lambda: remember_people(state.stages, self.store, oldest),
                              f"reading the stored tracks of {stream_id}")
        self.stats.restored += 1
        log.info("stream %s: restored from its saved state (seq %d, partition %d offset %d, "
                 "%d frames)", stream_id, state.last_seq, state.partition, state.next_offset,
                 state.frames)
        return state

    def _finish_all(self, idle_s: float) -> list[bytes]:
        """The topic stayed idle: finish every stream of this worker's partitions, also those
        known only from the table (the worker that ran them stopped after their last chunk).
        Runs on a worker thread, under the batch lock; returns the table keys to delete."""
        assigned = self._assigned_partitions()
        waiting = {key.decode("utf-8", "replace"): value
                   for key, value in list(self._table.items()) if value is not None
                   and StreamState.partition_of(value) in assigned}
        for stream_id, data in waiting.items():
            if stream_id not in self.streams:
                state = self._restore(stream_id, data)
                if state is not None:
                    self.streams[stream_id] = state
        log.info("no message for %.1f s: finishing %d streams", idle_s, len(self.streams))
        started = time.monotonic()
        for stream_id in list(self.streams):
            self.finish_stream(stream_id)
        self.stats.finish_s += time.monotonic() - started
        return [key.encode() for key in waiting]

    # -- the batch, on the worker thread -------------------------------------------------------

    def _admitted(self, messages: list, touched: dict[str, StreamState]) -> Iterator[tuple]:
        """Parse and admit messages in order (on the batch's thread).

        Yields ("dead", message, kind, reason) for a message to dead-letter and ("chunk",
        message, chunk, state) for a chunk to decode and feed; a replay or a retry yields
        nothing. A stream's first chunk makes its state; streams whose state moves on are added
        to `touched`.
        """
        for message in messages:
            try:
                chunk = GopChunk.from_bytes(message.value or b"")
            except ChunkFormatError as ex:
                yield ("dead", message, "ChunkFormatError", f"ChunkFormatError: {ex}")
                continue
            state = self.streams.get(chunk.stream_id)
            if (state is not None and chunk.seq <= state.last_seq
                    and message.partition == state.partition
                    and message.offset < state.resume_offset):
                # consumed again after a restart or rebalance: its saved state holds it already
                self.stats.replayed += 1
                log.debug("%s: chunk %d is in the saved state, skipped", chunk.stream_id,
                          chunk.seq)
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
                # rows a crashed run stored before its first saved state keep their identities
                self._retry_store(lambda: remember_people(stages, self.store),
                                  f"reading the stored tracks of {chunk.stream_id}")
                state = self.streams[chunk.stream_id] = StreamState(
                    chunk.stream_id, stages, StreamInfo.of(chunk))
                log.info("stream %s: first chunk (seq %d, %s %dx%d)", chunk.stream_id, chunk.seq,
                         chunk.codec, chunk.width, chunk.height)
            state.last_seq = chunk.seq
            state.partition, state.next_offset = message.partition, message.offset + 1
            touched[chunk.stream_id] = state
            yield ("chunk", message, chunk, state)

    def _segment(self, item: tuple, captured: list[float]) -> list[tuple[StreamState, StageOutput]]:
        """One item of `_decoded`: [(stream, the rows it completed)]. A chunk's capture time is
        appended to `captured`."""
        if item[0] == "dead":
            _, message, kind, reason = item
            self._dead_letter(message, kind, reason)
            return []
        if item[0] == "undecodable":  # to the DLQ, and a gap in its stream
            _, message, chunk, state, reason = item
            self._dead_letter(message, "DecodeError", reason)
            state.skip(chunk, reason)
            return []
        _, message, chunk, state, batch, samples = item
        out = state.feed(chunk, batch, samples)
        self.stats.chunks += 1
        self.stats.frames += len(chunk.packets)
        self.metrics.chunks_processed.labels(chunk.stream_id).inc()
        self.metrics.frames_processed.labels(chunk.stream_id).inc(len(chunk.packets))
        if chunk.capture_time is not None:
            captured.append(chunk.capture_time)
        return [(state, out)]

    def _dead_letter(self, message, kind: str, reason: str) -> None:
        reason = " ".join(reason.split())[:500]  # one line
        self.stats.dead_letters += 1
        self.stats.dlq_reasons.append(reason)
        self.metrics.dlq_messages.labels(kind).inc()
        self.metrics.chunks_dropped.labels("format" if kind == "ChunkFormatError" else "decode").inc()
        log.warning("%s/%d@%d to %s: %s", message.topic, message.partition, message.offset,
                    self.dlq, reason)
        headers = [("reason", reason.encode()), ("source_topic", message.topic.encode()),
                   ("source_partition", str(message.partition).encode()),
                   ("source_offset", str(message.offset).encode())]
        self._producer.send(self.dlq, key=message.key, value=message.value or b"",
                            headers=headers)

    def finish_stream(self, stream_id: str) -> int:
        """Close `stream_id`: write its last scenes and its `streams` row (`partial` when chunks
        could not be decoded); return new scene rows."""
        from vstream.store.rows import StreamRow

        state = self.streams[stream_id]
        out = state.finish()
        new = self._write_rows([(state, out)], stream_end=True)
        first = state.info
        row = StreamRow(
            stream_id=stream_id, source=redact_url(first.source), codec=first.codec,
            width=first.width, height=first.height, fps=float(first.frame_rate),
            frames=state.frames, duration_s=state.last_end_s,
            model_version=self.model_version, status=state.status[0],
            status_reason=state.status[1])
        self._retry_store(lambda: self.store.write_stream(row), f"the streams row of {stream_id}")
        del self.streams[stream_id]
        self.stats.streams_finished += 1
        log.info("stream %s finished: %d chunks, %d frames", stream_id, state.chunks, state.frames)
        return new

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

        Nothing of the batch is acked while it waits, and faust's consumer thread keeps the
        group membership. Raises _Stopped when the stop event is set during an outage (the
        caller then acks nothing).
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
                            "%.1f s, nothing acked", what, attempt,
                            time.monotonic() - down_since, ex, delay)
                if self._stop.wait(delay):
                    raise _Stopped
                continue
            if down_since is not None:
                log.warning("store back after %.1f s and %d retries: %s done",
                            time.monotonic() - down_since, attempt, what)
            return result


def _decoded(admitted: list[tuple]) -> Iterator[tuple]:
    """Decode admitted chunks in order (on the decode-ahead thread: only the streams' decoders
    are touched here). ("chunk", message, chunk, state) becomes ("ok", message, chunk, state,
    batch, samples), or ("undecodable", message, chunk, state, reason) when FFmpeg cannot
    decode it; dead letters pass as they are."""
    for item in admitted:
        if item[0] == "dead":
            yield item
            continue
        _, message, chunk, state = item
        try:
            batch, samples = state.decode(chunk)
        except DecodeError as ex:
            yield ("undecodable", message, chunk, state, f"DecodeError: {ex}")
            continue
        yield ("ok", message, chunk, state, batch, samples)


def _offsets_by_partition(messages: list) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for message in messages:
        found.setdefault(message.partition, []).append(message.offset)
    return found
