"""The Kafka worker against a real broker (Tansu) and real stores (chDB in tmp, ClickHouse server).

The worker's rows must equal the batch driver's (`index_video`) for the same file: one core, two
drivers. Fast shot detector and no tags keep these tests quick.
"""

from __future__ import annotations

import random
import signal
import struct
import threading
import time

import pytest

from kafka import KafkaProducer

from vstream.chunk import GopChunk
from vstream.ingest.ingester import ingest
from vstream.kafka import ChunkProducer, dlq_topic
from vstream.store import open_store
from vstream.weights import test_video_path
from kafka_messages import new_topic, read_all, scene_key  # tests/ is on pythonpath (pyproject)
from kafka_workers import run_guarded, run_until_caught_up  # tests/ is on pythonpath
from vstream.kafka.worker import ChunkWorker, WorkerStats

PARTITIONS = 4


def _run_worker(bootstrap: str, topic: str, store, group: str):
    """A worker of `group` until it has processed everything on the topic."""
    return run_until_caught_up(
        ChunkWorker(bootstrap, topic, store, group=group, shots="fast", model="none"))


def test_worker_rows_equal_index_video_and_a_second_run_reads_nothing(
        kafka_broker: str, tmp_path, reference) -> None:
    topic = new_topic(kafka_broker, "test.worker", PARTITIONS)
    with ChunkProducer(kafka_broker, topic) as producer:
        assert ingest(str(test_video_path()), "music", producer).chunks == 100
    with open_store(f"chdb://{tmp_path}/store") as store:
        stats = _run_worker(kafka_broker, topic, store, "g1")
        assert stats.chunks == 100 and stats.frames == 5301
        assert stats.dead_letters == 0 and stats.duplicates == 0 and stats.streams_finished == 1
        rows = store.scenes_of("music")
        assert scene_key(rows) == reference
        assert stats.rows_written == len(reference)
        stream = store.stream("music")
        assert stream is not None and stream.frames == 5301 and stream.codec == "h264"

        # Same group again: the offsets were committed, so nothing is consumed or written.
        again = _run_worker(kafka_broker, topic, store, "g1")
        assert again.chunks == 0 and again.rows_written == 0 and again.streams_finished == 0
        assert store.count("scenes") == len(reference)


def _bad_messages(good: bytes) -> list[tuple[bytes, str]]:
    """100 malformed values and the reason prefix each must get in the DLQ."""
    rnd = random.Random(7)
    bad = [(rnd.randbytes(rnd.randint(0, 4000)), "ChunkFormatError") for _ in range(96)]
    bad.append((good[: len(good) // 2], "ChunkFormatError"))  # truncated
    bad.append((good[:-1], "ChunkFormatError"))  # truncated by one byte
    wrong_version = bytearray(good)
    struct.pack_into("<H", wrong_version, 4, 9)
    bad.append((bytes(wrong_version), "ChunkFormatError: chunk format version 9"))
    bad.append((b"", "ChunkFormatError"))
    return bad


class _RetryingSink:
    """Sends chunk 5 twice in a row, and again after chunk 7: what producer retries look like;
    and after each good chunk, the next of `between` (malformed values) on the same key."""

    def __init__(self, producer: ChunkProducer, raw: KafkaProducer, topic: str,
                 between: list[bytes]) -> None:
        self.producer = producer
        self.five: GopChunk | None = None
        self.raw, self.topic, self.between = raw, topic, list(between)

    def send(self, chunk: GopChunk) -> None:
        self.producer.send(chunk)
        self.producer.flush()  # the bad message lands after this chunk, not before
        if self.between:
            self.raw.send(self.topic, key=b"music", value=self.between.pop(0)).get(timeout=30)
        if chunk.seq == 5:
            self.five = chunk
            self.producer.send(chunk)
        if chunk.seq == 7:
            self.producer.send(self.five)


def test_malformed_messages_go_to_the_dlq_and_duplicates_change_nothing(
        kafka_broker: str, tmp_path, reference) -> None:
    from vstream.ingest.chunker import Chunker

    topic = new_topic(kafka_broker, "test.worker", PARTITIONS)
    good = next(iter(Chunker(str(test_video_path()), "music"))).to_bytes()
    bad = _bad_messages(good)
    raw = KafkaProducer(bootstrap_servers=kafka_broker, acks="all")
    # same key, so same partition: half before the good chunks, half between them
    for value, _ in bad[:50]:
        raw.send(topic, key=b"music", value=value)
    raw.flush()
    with ChunkProducer(kafka_broker, topic) as producer:
        ingest(str(test_video_path()), "music",
               _RetryingSink(producer, raw, topic, [value for value, _ in bad[50:]]))
    raw.close()

    with open_store(f"chdb://{tmp_path}/store") as store:
        stats = _run_worker(kafka_broker, topic, store, "g1")
        assert stats.dead_letters == 100 and stats.duplicates == 2
        assert stats.chunks == 100 and stats.frames == 5301
        assert scene_key(store.scenes_of("music")) == reference
        assert store.count("scenes") == len(reference)

    letters = sorted(read_all(kafka_broker, dlq_topic(topic), 100), key=lambda r: r.offset)
    assert len(letters) == 100
    for letter, (value, reason) in zip(letters, bad):
        headers = dict(letter.headers)
        assert letter.value == value
        assert headers["reason"].decode().startswith(reason)
        assert b"\n" not in headers["reason"]
        assert headers["source_topic"] == topic.encode()
    # all sent with key "music": one source partition; 0..49 before the good chunks, then one
    # after each good chunk (with chunk 5's retry), so the good ones were read around them
    assert len({dict(r.headers)["source_partition"] for r in letters}) == 1
    offsets = [int(dict(r.headers)["source_offset"]) for r in letters]
    assert offsets[:50] == list(range(50))
    assert all(b - a >= 2 for a, b in zip(offsets[50:], offsets[51:]))


def test_worker_into_a_clickhouse_server(kafka_broker: str, server_url, reference) -> None:
    topic = new_topic(kafka_broker, "test.worker", PARTITIONS)
    with ChunkProducer(kafka_broker, topic) as producer:
        ingest(str(test_video_path()), "music", producer)
    with open_store(server_url) as store:
        stats = _run_worker(kafka_broker, topic, store, "g-server")
        assert stats.chunks == 100 and stats.streams_finished == 1
        assert scene_key(store.scenes_of("music")) == reference
        assert store.query_readonly("SELECT count() FROM scenes").rows[0][0] == len(reference)


class _StopAfterFirstWrite:
    """A store that sets `stop` once the first scene rows are written (a Ctrl-C mid-stream)."""

    def __init__(self, store, stop: threading.Event) -> None:
        self.store, self.stop = store, stop

    def write_scenes(self, rows) -> int:
        written = self.store.write_scenes(rows)
        self.stop.set()
        return written

    def __getattr__(self, name):
        return getattr(self.store, name)


def test_stop_commits_what_was_written_and_a_restart_resumes_there(kafka_broker: str,
                                                                   tmp_path) -> None:
    topic = new_topic(kafka_broker, "test.worker", PARTITIONS)
    with ChunkProducer(kafka_broker, topic) as producer:
        ingest(str(test_video_path()), "music", producer)
    with open_store(f"chdb://{tmp_path}/store") as store:
        stop = threading.Event()
        worker = ChunkWorker(kafka_broker, topic, _StopAfterFirstWrite(store, stop), group="g1",
                             shots="fast", model="none", max_poll_records=10)
        first = run_guarded(worker.run, stop)
        assert 0 < first.chunks < 100 and first.rows_written > 0 and first.commits >= 1
        assert first.streams_finished == 0 and store.stream("music") is None  # not finished
        # The restart resumes at the committed offset: no chunk is consumed twice.
        second = _run_worker(kafka_broker, topic, store, "g1")
        assert first.chunks + second.chunks == 100 and second.streams_finished == 1


def test_cli_worker_exit_when_caught_up(kafka_broker: str, short_video, tmp_path, capsys) -> None:
    from vstream.cli import main

    topic = new_topic(kafka_broker, "test.worker", PARTITIONS)
    with ChunkProducer(kafka_broker, topic) as producer:
        sent = ingest(str(short_video), "short", producer)
    store = f"chdb://{tmp_path}/store"
    code = main(["worker", "--kafka", kafka_broker, "--topic", topic, "--store", store,
                 "--group", "cli", "--exit-when-caught-up", "--shots", "fast", "--model", "none"])
    out = capsys.readouterr().out
    assert code == 0
    assert f"{sent.chunks} chunks, {sent.frames} frames, 0 duplicates skipped, 0 to the DLQ" in out
    assert "1 streams finished" in out
    with open_store(store) as s:
        assert s.stream("short").frames == sent.frames and s.count("scenes") >= 1


def test_cli_worker_idle_exit_finishes_the_streams_it_finds_in_the_table(
        kafka_broker: str, short_video, tmp_path, capsys) -> None:
    """--idle-exit on a topic that holds nothing new: the idle time is all there is, whatever
    the machine's speed, and the stream a stopped worker left open is finished from its saved
    state."""
    from vstream.cli import main

    topic = new_topic(kafka_broker, "test.worker", PARTITIONS)
    with ChunkProducer(kafka_broker, topic) as producer:
        sent = ingest(str(short_video), "short", producer)
    store = f"chdb://{tmp_path}/store"
    with open_store(store) as s:
        # The first worker processes every chunk and is stopped: the stream stays open, its
        # state in the table, every offset committed.
        worker = ChunkWorker(kafka_broker, topic, s, group="idle", shots="fast", model="none")
        stop = threading.Event()

        def stop_after_every_chunk(stop: threading.Event) -> WorkerStats:
            watcher = threading.Thread(target=_set_when, args=(
                lambda: worker.stats.chunks >= sent.chunks, stop), daemon=True)
            watcher.start()
            return worker.run(stop_event=stop)

        first = run_guarded(stop_after_every_chunk, stop)
        assert first.chunks == sent.chunks and first.streams_finished == 0
        assert s.stream("short") is None
    code = main(["worker", "--kafka", kafka_broker, "--topic", topic, "--store", store,
                 "--group", "idle", "--idle-exit", "1", "--shots", "fast", "--model", "none"])
    out = capsys.readouterr().out
    assert code == 0
    assert "0 chunks, 0 frames" in out and "1 streams finished" in out
    assert "1 streams restored from their saved state" in out
    with open_store(store) as s:
        assert s.stream("short").frames == sent.frames and s.count("scenes") >= 1


def _set_when(check, event: threading.Event) -> None:
    """Set `event` once `check()` holds, or once it is set anyway (the hang guard)."""
    while not check() and not event.is_set():
        time.sleep(0.02)
    event.set()


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["ctrl-c", "sigterm"])
def test_ctrl_c_commits_and_exits_without_finishing_streams(
        kafka_broker: str, tmp_path, signum: int, code: int) -> None:
    # SIGTERM (`docker stop`) stops a worker as gracefully as Ctrl-C
    import os
    import subprocess
    import sys

    topic = new_topic(kafka_broker, "test.worker", PARTITIONS)
    with ChunkProducer(kafka_broker, topic) as producer:
        ingest(str(test_video_path()), "music", producer)
    store = f"chdb://{tmp_path}/store"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vstream", "-v", "worker", "--kafka", kafka_broker, "--topic", topic,
         "--store", store, "--group", "ctrl-c", "--shots", "fast", "--model", "none"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 60
        for line in proc.stderr:  # wait until it is consuming
            if "first chunk" in line or time.monotonic() > deadline:
                break
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, err[-2000:]
    assert "Traceback" not in err
    assert "0 streams finished" in out
    with open_store(store) as s:
        assert s.stream("music") is None  # not finished on Ctrl-C


def test_an_undecodable_chunk_is_dead_lettered_and_its_stream_ends_partial_as_index_says(
        kafka_broker: str, tmp_path) -> None:
    """The worker treats a damaged file as `vstream index` does: the chunk FFmpeg cannot decode
    goes to the DLQ and is left out as a gap (a stream_gap event where video resumes), the other
    chunks make the same rows as index, and the streams row says partial."""
    from video_clips import encode_clip, overwrite_middle
    from vstream.drivers.index import index_video

    recorded = encode_clip(tmp_path / "recorded.mp4", range(1000), gop=50)
    damaged = overwrite_middle(recorded, tmp_path / "damaged.mp4")
    with open_store(f"chdb://{tmp_path}/reference") as ref:
        index_video(str(damaged), ref, stream_id="cam", shots="fast", model="none")
        expected = {t: sorted(r[0] for r in ref.backend.query(f"SELECT row_id FROM {t}").rows)
                    for t in ("scenes", "events")}
    assert expected["events"], "index marks the gap"
    topic = new_topic(kafka_broker, "test.worker.damaged", PARTITIONS)
    with ChunkProducer(kafka_broker, topic) as producer:
        ingest(str(damaged), "cam", producer)
    with open_store(f"chdb://{tmp_path}/store") as store:
        stats = _run_worker(kafka_broker, topic, store, "g-damaged")
        assert stats.dead_letters == 1
        got = {t: sorted(r[0] for r in store.backend.query(f"SELECT row_id FROM {t}").rows)
               for t in ("scenes", "events")}
        assert got == expected
        [(kind,)] = store.backend.query("SELECT kind FROM events").rows
        assert kind == "stream_gap"
        stream = store.stream("cam")
        assert stream.status == "partial"
        assert "1 undecodable chunk skipped (DecodeError" in stream.status_reason
    [letter] = read_all(kafka_broker, dlq_topic(topic), 1)
    assert dict(letter.headers)["reason"].startswith(b"DecodeError")
