"""Ingest onto a real broker (Tansu, from the kafka_broker fixture) and read it back."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from kafka import KafkaConsumer

from vstream.chunk import GopChunk
from vstream.ingest.ingester import ingest
from vstream.kafka import ChunkProducer, DeliveryError, ProducerBlockedError, ensure_topics
from vstream.weights import test_video_path
from kafka_messages import new_topic, read_all  # tests/ is on pythonpath (pyproject)
from video_clips import encode_clip

PARTITIONS = 4


def test_ensure_topics_is_idempotent(kafka_broker: str) -> None:
    name = new_topic(kafka_broker, "test.chunks", PARTITIONS, dlq=False)
    assert ensure_topics(kafka_broker, [name, name]) == []


def test_vod_file_lands_in_order_on_one_partition(kafka_broker: str) -> None:
    topic = new_topic(kafka_broker, "test.chunks", PARTITIONS, dlq=False)
    with ChunkProducer(kafka_broker, topic) as producer:
        stats = ingest(str(test_video_path()), "music", producer)
    assert producer.acked == stats.chunks == 100 and producer.failed == 0
    assert stats.frames == 5301 and stats.gaps == []

    records = read_all(kafka_broker, topic, 100)
    assert len(records) == 100
    assert {r.key for r in records} == {b"music"}
    assert len({r.partition for r in records}) == 1
    records.sort(key=lambda r: r.offset)
    chunks = [GopChunk.from_bytes(r.value) for r in records]
    assert [c.seq for c in chunks] == list(range(100))
    assert sum(c.frame_count for c in chunks) == 5301
    assert all(c.stream_id == "music" and c.capture_time is None for c in chunks)
    headers = dict(records[7].headers)
    assert headers == {"seq": b"7", "stream_id": b"music", "format": b"vsgc/1"}


def test_two_streams_at_once_stay_in_order_per_key(kafka_broker: str, short_video) -> None:
    topic = new_topic(kafka_broker, "test.chunks", PARTITIONS, dlq=False)
    sources = {"a": str(short_video), "b": str(test_video_path())}
    results: dict[str, int] = {}
    with ChunkProducer(kafka_broker, topic) as producer:
        threads = [threading.Thread(target=lambda s=s, p=p: results.__setitem__(
            s, ingest(p, s, producer).chunks)) for s, p in sources.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    total = sum(results.values())
    records = read_all(kafka_broker, topic, total)
    assert len(records) == total
    for key in (b"a", b"b"):
        mine = sorted((r for r in records if r.key == key), key=lambda r: r.offset)
        assert len({r.partition for r in mine}) == 1
        assert [GopChunk.from_bytes(r.value).seq for r in mine] == list(range(len(mine)))
        assert len(mine) == results[key.decode()]


def test_realtime_paces_a_file_to_its_duration(kafka_broker: str, tmp_path) -> None:
    clip = encode_clip(tmp_path / "clip.mp4", range(75), gop=25)  # 3 s, a keyframe a second
    topic = new_topic(kafka_broker, "test.chunks", PARTITIONS, dlq=False)
    with ChunkProducer(kafka_broker, topic) as producer:
        started = time.monotonic()
        stats = ingest(str(clip), "clip", producer, realtime=True)
        elapsed = time.monotonic() - started
    assert stats.frames == 75
    assert elapsed >= 2.8, f"3 s clip sent in {elapsed:.2f} s"


def test_full_buffer_blocks_then_raises_when_the_broker_is_gone(own_kafka_broker) -> None:
    from vstream.ingest.chunker import Chunker

    bootstrap = own_kafka_broker.bootstrap
    topic = new_topic(bootstrap, "test.chunks", PARTITIONS, dlq=False)
    chunks = iter(Chunker(str(test_video_path()), "s"))
    producer = ChunkProducer(bootstrap, topic, max_buffer_bytes=64 * 1024, block_timeout_s=1.0)
    producer.send(next(chunks))
    producer.flush(10)
    assert producer.acked == 1
    own_kafka_broker.stop()
    started = time.monotonic()
    sent = 0
    with pytest.raises(ProducerBlockedError, match="took nothing for 1 s"):
        for chunk in chunks:
            producer.send(chunk)
            sent += 1
    assert 1.0 <= time.monotonic() - started < 10
    assert producer.blocked == 1 and sent >= 1 and producer.pending_bytes > 0
    with pytest.raises(DeliveryError, match="not acknowledged"):  # close says what was lost
        producer.close(timeout_s=0.5)


def test_refused_chunk_is_raised_not_dropped(kafka_broker: str) -> None:
    topic = new_topic(kafka_broker, "test.chunks", PARTITIONS, dlq=False)
    from vstream.ingest.chunker import Chunker

    chunk = next(iter(Chunker(str(test_video_path()), "s")))
    producer = ChunkProducer(kafka_broker, topic, max_request_bytes=100)
    with pytest.raises(DeliveryError, match="s/0"):
        producer.send(chunk)
        producer.close()
    assert producer.failed == 1 and producer.acked == 0


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vstream", "ingest", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_cli_ingest_prints_a_summary(kafka_broker: str, short_video) -> None:
    topic = new_topic(kafka_broker, "test.chunks", PARTITIONS, dlq=False)
    run = _cli(str(short_video), "--stream-id", "cli", "--kafka", kafka_broker, "--topic", topic)
    assert run.returncode == 0, run.stderr
    assert "frames" in run.stdout and "gaps" in run.stdout and "400 frames" in run.stdout
    assert len(read_all(kafka_broker, topic, 1)) >= 1


def test_cli_missing_file_is_one_line(kafka_broker: str) -> None:
    run = _cli("/no/such/video.mp4", "--stream-id", "x", "--kafka", kafka_broker)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == ["vstream: error: /no/such/video.mp4: no such file"]


def test_cli_closed_port_fails_fast_and_clearly() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    run = _cli(str(test_video_path()), "--stream-id", "x", "--kafka", f"127.0.0.1:{port}",
               timeout=30)
    assert time.monotonic() - started < 20
    assert run.returncode == 7
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and f"no Kafka broker answers at 127.0.0.1:{port}" in lines[0]


def test_a_consumer_group_receives_the_chunks(kafka_broker: str, short_video) -> None:
    """What the worker will do: join a group (kafka-python 2.3 joins Tansu's in about 5 s)."""
    topic = new_topic(kafka_broker, "test.chunks", PARTITIONS, dlq=False)
    with ChunkProducer(kafka_broker, topic) as producer:
        stats = ingest(str(short_video), "grp", producer)
    consumer = KafkaConsumer(topic, bootstrap_servers=kafka_broker, group_id=f"g-{topic}",
                             auto_offset_reset="earliest", consumer_timeout_ms=20_000)
    try:
        seqs = []
        for record in consumer:
            seqs.append(GopChunk.from_bytes(record.value).seq)
            if len(seqs) == stats.chunks:
                break
    finally:
        consumer.close()
    assert seqs == list(range(stats.chunks))


def test_failed_close_really_closes_the_client(own_kafka_broker) -> None:
    import gc
    import warnings

    from vstream.ingest.chunker import Chunker

    topic = new_topic(own_kafka_broker.bootstrap, "test.chunks", PARTITIONS, dlq=False)
    producer = ChunkProducer(own_kafka_broker.bootstrap, topic, block_timeout_s=1.0)
    chunks = iter(Chunker(str(test_video_path()), "s"))
    producer.send(next(chunks))
    producer.flush(10)  # topic metadata is cached: the next send queues instead of failing
    own_kafka_broker.stop()
    producer.send(next(chunks))
    with pytest.raises(DeliveryError):
        producer.close(timeout_s=0.5)
    assert producer._producer._closed and producer.pending_bytes == 0 and producer.failed == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        del producer
        gc.collect()
