"""`vstream streams` with Kafka: per-stream lag of the worker group, against a real broker."""

from __future__ import annotations

import json
import uuid

import pytest

from kafka_workers import run_until_caught_up  # tests/ is on pythonpath (pyproject)
from vstream.cli import main
from vstream.ingest.ingester import ingest
from vstream.kafka import ChunkProducer, dlq_topic, ensure_topics
from vstream.kafka.lag import partition_for, stream_lags
from vstream.store import open_store
from vstream.weights import test_video_path
from vstream.kafka.worker import ChunkWorker

PARTITIONS = 4


def _names() -> tuple[str, str, str]:
    """Two stream IDs that share a partition and one on another partition."""
    names = [f"cam{i}" for i in range(50)]
    first = names[0]
    twin = next(n for n in names[1:] if partition_for(n, PARTITIONS) == partition_for(first, PARTITIONS))
    other = next(n for n in names if partition_for(n, PARTITIONS) != partition_for(first, PARTITIONS))
    return first, twin, other


@pytest.fixture
def topic_with_three_streams(kafka_broker: str, short_video) -> tuple[str, dict[str, int]]:
    topic = f"test.lag.{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_broker, [topic, dlq_topic(topic)], PARTITIONS)
    big, twin, other = _names()
    sent = {}
    with ChunkProducer(kafka_broker, topic) as producer:
        sent[big] = ingest(str(test_video_path()), big, producer).chunks
        sent[twin] = ingest(str(short_video), twin, producer).chunks
        sent[other] = ingest(str(short_video), other, producer).chunks
    return topic, sent


def _cli_streams(capsys, *args: str) -> list[dict]:
    assert main(["streams", "--format", "json", *args]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_lag_counts_each_streams_own_chunks_then_drops_to_zero(
        kafka_broker: str, topic_with_three_streams, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("VSTREAM_KAFKA", raising=False)
    topic, sent = topic_with_three_streams
    big, twin, other = _names()
    lags = {lag.stream_id: lag for lag in stream_lags(kafka_broker, topic, "g", [big])}
    # Nothing consumed yet: every chunk of every stream is lag, counted per stream even where
    # two streams share a partition; the partition's backlog is the sum.
    assert {sid: lag.lag for sid, lag in lags.items()} == sent
    assert all(lag.exact for lag in lags.values())
    assert lags[big].partition == lags[twin].partition != lags[other].partition
    assert lags[big].partition_lag == lags[twin].partition_lag == sent[big] + sent[twin]
    assert all(lag.last_chunk_at is not None for lag in lags.values())
    # A window shorter than the backlog gives a lower bound, shown as ">=N".
    short = {lag.stream_id: lag for lag in stream_lags(kafka_broker, topic, "g", window=10)}
    assert not short[big].exact and short[big].lag <= 10 and short[big].shown.startswith(">=")

    store = f"chdb://{tmp_path}/store"
    listed = _cli_streams(capsys, "--store", store, "--kafka", kafka_broker, "--topic", topic,
                          "--group", "g")
    assert {r["stream_id"]: r["lag"] for r in listed} == sent  # known to Kafka only, so far
    assert all(r["scenes"] == "" and r["last_chunk_at"] for r in listed)

    with open_store(store) as s:
        stats = run_until_caught_up(ChunkWorker(kafka_broker, topic, s, group="g", shots="fast",
                                                model="none"))
    assert stats.chunks == sum(sent.values()) and stats.streams_finished == 3
    listed = _cli_streams(capsys, "--store", store, "--kafka", kafka_broker, "--topic", topic,
                          "--group", "g")
    assert {r["stream_id"]: r["lag"] for r in listed} == dict.fromkeys(sent, 0)
    assert all(r["scenes"] >= 1 and r["partition"] in range(PARTITIONS) for r in listed)
    # Without Kafka configured: the store's table as before, no lag columns.
    plain = _cli_streams(capsys, "--store", store)
    assert len(plain) == 3 and "lag" not in plain[0]


def test_missing_topic_is_one_line(kafka_broker: str, tmp_path, capsys) -> None:
    code = main(["streams", "--store", f"chdb://{tmp_path}/store", "--kafka", kafka_broker,
                 "--topic", f"no.such.{uuid.uuid4().hex[:6]}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 7 and len(err) == 1 and "does not exist" in err[0]
