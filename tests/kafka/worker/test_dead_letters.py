"""DeadLetterSink: a letter carries the message and why, on one line, and is counted."""

from __future__ import annotations

import pytest

from vstream.kafka.worker import dead_letters
from vstream.kafka.worker.dead_letters import (
    MAX_REASON_CHARS, NOT_A_CHUNK, UNDECODABLE, DeadLetterSink, one_line_reason,
)
from vstream.kafka.worker.stats import WorkerStats
from vstream.metrics import Metrics


class FakeProducer:
    def __init__(self, bootstrap: str, **config) -> None:
        self.bootstrap, self.config = bootstrap, config
        self.sent: list[tuple] = []
        self.flushes = 0
        self.closed = False

    def send(self, topic: str, *, key, value, headers) -> None:
        self.sent.append((topic, key, value, headers))

    def flush(self) -> None:
        self.flushes += 1

    def close(self, timeout: float) -> None:
        self.closed = True


@pytest.fixture
def sink(monkeypatch) -> DeadLetterSink:
    monkeypatch.setattr(dead_letters, "kafka_producer", FakeProducer)
    sink = DeadLetterSink("broker:9092", "chunks.dlq", WorkerStats(), Metrics())
    sink.open(1024)
    return sink


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("DecodeError: bad", "DecodeError: bad"),
        ("ChunkFormatError:\n  truncated\tat 12", "ChunkFormatError: truncated at 12"),
        ("x" * 600, "x" * MAX_REASON_CHARS),
        ("", ""),
    ],
)
def test_a_reason_is_one_line_and_bounded(reason: str, expected: str) -> None:
    assert one_line_reason(reason) == expected


def test_a_letter_carries_the_message_and_where_it_came_from(sink, raw_message) -> None:
    sink.send(raw_message("chunks", 3, 41, b"cam", b"junk"), NOT_A_CHUNK,
              "ChunkFormatError: not\n a chunk")
    sink.send(raw_message("chunks", 0, 7, None, None), UNDECODABLE, "DecodeError: bad")
    producer = sink._producer
    assert producer.config["acks"] == "all"
    assert producer.config["max_in_flight_requests_per_connection"] == 1
    assert producer.sent == [
        ("chunks.dlq", b"cam", b"junk", [
            ("reason", b"ChunkFormatError: not a chunk"), ("source_topic", b"chunks"),
            ("source_partition", b"3"), ("source_offset", b"41")]),
        ("chunks.dlq", None, b"", [
            ("reason", b"DecodeError: bad"), ("source_topic", b"chunks"),
            ("source_partition", b"0"), ("source_offset", b"7")]),
    ]
    assert sink.stats.dead_letters == 2
    assert sink.stats.dlq_reasons == ["ChunkFormatError: not a chunk", "DecodeError: bad"]
    assert sink.metrics.value("vstream_dlq_messages_total", reason=NOT_A_CHUNK) == 1
    assert sink.metrics.value("vstream_chunks_dropped_total", reason="format") == 1
    assert sink.metrics.value("vstream_chunks_dropped_total", reason="decode") == 1


def test_close_flushes_by_closing_once(sink) -> None:
    producer = sink._producer
    sink.flush()
    sink.close()
    sink.close()  # a second close (run's finally after a failed start) does nothing
    assert producer.flushes == 1 and producer.closed
