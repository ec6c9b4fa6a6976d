"""The broker restarted during a run: ingest and worker recover with no lost chunk.

Against a real Tansu broker on S3 storage (`restartable_kafka_broker`: a private local S3
server, so topics, messages, groups and committed offsets outlive the broker process), the broker
is stopped in the middle of a run, kept down for seconds and started again on the same port. The
ingest must keep demuxing into its send buffer while the broker is away and deliver every chunk
once it is back, in order (a retried request may repeat a chunk, which the worker drops by seq);
a worker consuming through the restart must end with exactly the scene rows of `vstream index`,
none twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pytest
from kafka import KafkaConsumer, TopicPartition

from kafka_messages import new_topic, scene_key  # tests/ is on pythonpath (pyproject)
from vstream.chunk import GopChunk
from vstream.ingest.ingester import IngestStats, ingest
from vstream.kafka import ChunkProducer
from vstream.store import open_store
from vstream.weights import test_video_path
from vstream.kafka.worker import ChunkWorker

PARTITIONS = 4
#: the test video: 100 chunks (GOPs), 5301 frames
CHUNKS, FRAMES = 100, 5301
#: a pause after each chunk stretches the ingest to ~10 s, so the restart lands in the middle
PAUSE_S = 0.1
#: how long the broker stays down under the ingest: longer than the rest of the ingest, and
#: long enough that kafka-python's default reconnect back-off would show (it reaches 12.8 s)
INGEST_OUTAGE_S = 16.0
#: acknowledgements must resume this soon after the broker is back (seen: 0.4-0.6 s). What it
#: tells apart is the reconnect back-off: kafka-python's default would have grown to 12.8 s
#: (+-20% jitter) over the outage, so at least ~10 s; 8 s leaves a slow machine 13x the time seen.
RESUME_S = 8.0
#: how long the broker stays down under the worker once its process has exited; a SIGTERMed
#: Tansu exits 5 s after the signal when clients are connected (graceful shutdown), so the
#: outage is ~8 s
WORKER_OUTAGE_S = 3.0


class _PacedSink:
    """Hands each chunk to the producer, then pauses: a camera-like ingest that lasts seconds.

    Counts the chunks handed over while `broker_down` is set: those can only go to the
    producer's buffer."""

    def __init__(self, producer: ChunkProducer, broker_down: threading.Event) -> None:
        self.producer, self.broker_down = producer, broker_down
        self.sent_while_down = 0

    def send(self, chunk: GopChunk) -> None:
        self.producer.send(chunk)
        if self.broker_down.is_set():
            self.sent_while_down += 1
        time.sleep(PAUSE_S)


class _Thread(threading.Thread):
    """A thread that keeps its target's result or exception for the test to check."""

    def __init__(self, target: Callable[[], object], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._call = target
        self.result: object = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self._call()
        except BaseException as ex:  # re-raised in the test by outcome()
            self.error = ex

    def outcome(self, timeout: float) -> object:
        """The target's return value; its exception re-raised; a failure if still running."""
        self.join(timeout)
        if self.is_alive():
            pytest.fail(f"{self.name} still running after {timeout:g} s")
        if self.error is not None:
            raise AssertionError(f"{self.name} failed: {self.error!r}") from self.error
        return self.result


def _wait_for(what: str, check: Callable[[], bool], timeout: float, thread: _Thread) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if not thread.is_alive():
            thread.outcome(0)  # raises the thread's error, if any
            pytest.fail(f"{thread.name} ended before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


def _ingest_thread(bootstrap: str, topic: str, down: threading.Event
                   ) -> tuple[_Thread, ChunkProducer, _PacedSink]:
    """The test video ingested as stream "music", paced, on a thread; the producer's close()
    (leaving the `with`) returns once every chunk is acknowledged, or raises."""
    producer = ChunkProducer(bootstrap, topic)
    sink = _PacedSink(producer, down)

    def run() -> IngestStats:
        with producer:
            return ingest(str(test_video_path()), "music", sink)

    thread = _Thread(run, "ingest")
    thread.start()
    return thread, producer, sink


def _all_records(bootstrap: str, topic: str, hang_guard_s: float = 60.0) -> list:
    """Every record of `topic`, duplicates included: reads from the beginning until each
    partition's position reaches the high watermark of its latest fetch response (every fetch
    here comes after the ingest's last acknowledgement, so that is the end of the log).

    Not up to ListOffsets' end offsets: on S3 storage Tansu 0.6 answers ListOffsets(latest) with
    a stale high watermark (seen: 1 after 25 acknowledged messages, still 1 after 30 s and a
    restart; 90 of 100), while its fetch responses carry the right one."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             receive_message_max_bytes=64 * 1024 * 1024)  # responses over 1 MB
    try:
        parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        out: list = []
        deadline = time.monotonic() + hang_guard_s
        while True:
            out.extend(r for records in consumer.poll(timeout_ms=200).values() for r in records)
            marks = {tp: consumer.highwater(tp) for tp in parts}
            if all(mark is not None and consumer.position(tp) >= mark
                   for tp, mark in marks.items()):
                return out
            assert time.monotonic() < deadline, \
                f"hang guard: {topic} not read after {hang_guard_s:g} s ({len(out)} records)"
    finally:
        consumer.close()


def test_ingest_buffers_through_a_broker_crash_and_delivers_every_chunk(
        restartable_kafka_broker) -> None:
    broker = restartable_kafka_broker
    topic = new_topic(broker.bootstrap, "test.restart", PARTITIONS, dlq=False)
    down = threading.Event()
    ingesting, producer, sink = _ingest_thread(broker.bootstrap, topic, down)
    _wait_for("30 chunks acknowledged", lambda: producer.acked >= 30, 30, ingesting)
    acked_before = producer.acked
    broker.stop(kill=True)  # a crash: no chance to finish what it was doing
    down.set()
    time.sleep(INGEST_OUTAGE_S)
    # Nothing can be acknowledged by a dead broker: what ingest sent meanwhile is buffered.
    assert producer.acked == acked_before and producer.pending_bytes > 0
    broker.start()
    down.clear()
    back = time.monotonic()
    _wait_for("acknowledgements after the restart", lambda: producer.acked > acked_before, 60,
              ingesting)
    resumed_s = time.monotonic() - back
    stats = ingesting.outcome(timeout=120)

    assert stats.chunks == CHUNKS and stats.frames == FRAMES
    assert sink.sent_while_down >= 10, "the ingest went on demuxing while the broker was down"
    assert producer.acked == CHUNKS and producer.failed == 0 and producer.blocked == 0
    assert resumed_s < RESUME_S, f"first acknowledgement {resumed_s:.1f} s after the restart"
    records = sorted(_all_records(broker.bootstrap, topic), key=lambda r: r.offset)
    assert len({r.partition for r in records}) == 1  # one key, one partition
    assert [r.offset for r in records] == list(range(len(records)))  # no hole in the log
    chunks = [GopChunk.from_bytes(r.value) for r in records]
    seqs = [c.seq for c in chunks]
    # In order (one request in flight), every chunk there; a retried request may repeat a
    # chunk right after itself, and only that.
    assert seqs == sorted(seqs) and sorted(set(seqs)) == list(range(CHUNKS))
    assert sum({c.seq: c.frame_count for c in chunks}.values()) == FRAMES


class _Timeline(logging.Handler):
    """Monotonic times of log messages: printed when the worker test fails, to show when the
    worker lost the broker, found it again and consumed again."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[tuple[float, str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((time.monotonic(), record.name, record.getMessage()))


def test_worker_consuming_through_a_broker_restart_stores_the_rows_of_vstream_index(
        restartable_kafka_broker, tmp_path, reference) -> None:
    broker = restartable_kafka_broker
    topic = new_topic(broker.bootstrap, "test.restart", PARTITIONS)
    timeline = _Timeline()
    # the worker's own lines and its consumer's group membership (kafka-python's coordinator,
    # or aiokafka's under faust)
    logs = [logging.getLogger(name) for name in ("vstream.kafka.worker", "kafka.coordinator",
                                                 "aiokafka.consumer.group_coordinator")]
    levels = [log.level for log in logs]
    for log in logs:
        log.addHandler(timeline)
        log.setLevel(logging.INFO)
    stop = threading.Event()
    guard = threading.Timer(170, stop.set)  # a hung worker fails the test instead of hanging it
    stopped_at = back_at = time.monotonic()
    try:
        with open_store(f"chdb://{tmp_path}/store") as store:
            worker = ChunkWorker(broker.bootstrap, topic, store, group="restart", shots="fast",
                                 model="none")
            # Started on an empty topic, so not until caught up: that is asked for below, once
            # every chunk is on the topic.
            consuming = _Thread(lambda: worker.run(stop_event=stop), "worker")
            guard.start()
            consuming.start()
            _wait_for("the worker's partitions", worker.ready.is_set, 60, consuming)
            down = threading.Event()
            ingesting, _, _ = _ingest_thread(broker.bootstrap, topic, down)
            _wait_for("30 chunks processed", lambda: worker.stats.chunks >= 30, 60, consuming)
            chunks_before, commits_before = worker.stats.chunks, worker.stats.commits
            stopped_at = time.monotonic()
            broker.stop()  # SIGTERM: a planned restart (the ingest test crashes it)
            down.set()
            stop_s = time.monotonic() - stopped_at
            time.sleep(WORKER_OUTAGE_S)
            broker.start()
            down.clear()
            back_at = time.monotonic()
            assert ingesting.outcome(timeout=120).chunks == CHUNKS
            worker.exit_when_caught_up()  # every chunk is acknowledged: on the topic
            # two commits: one could be a batch polled before the broker went away
            _wait_for("the worker committing again",
                      lambda: worker.stats.commits > commits_before + 1, 90, consuming)
            resumed_s = time.monotonic() - back_at
            stats = consuming.outcome(timeout=150)
            rows = store.scenes_of("music")
            plain_count = store.count("scenes")
            stream = store.stream("music")
    finally:
        guard.cancel()
        for log, level in zip(logs, levels, strict=True):
            log.removeHandler(timeline)
            log.setLevel(level)
        for at, name, line in timeline.lines:  # shown by pytest when the test fails
            print(f"{at - stopped_at:+8.2f} {name}: {line}")
    print(f"broker down {back_at - stopped_at:.1f} s (exited {stop_s:.1f} s after SIGTERM); "
          f"worker committing again {resumed_s:.1f} s "
          f"after the broker was back; {stats.summary()}")
    assert 0 < chunks_before < CHUNKS, "the restart came in the middle of the stream"
    assert not stop.is_set(), "the guard timer stopped a hung worker"
    assert scene_key(rows) == reference  # same row IDs, none missing
    assert plain_count == len(reference)  # none twice, as a plain query sees it
    assert stats.streams_finished == 1 and stats.dead_letters == 0
    assert stream is not None and stream.frames == FRAMES
