"""Reading a topic back in tests: every message, by direct partition assignment."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from kafka import KafkaConsumer, TopicPartition


@contextmanager
def _reading(bootstrap: str, topic: str, partitions: int
             ) -> Iterator[tuple[KafkaConsumer, list[TopicPartition]]]:
    """A consumer assigned the partitions of `topic` directly (no consumer-group join to wait
    for), at their beginning; and those partitions."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        yield consumer, parts
    finally:
        consumer.close()


def read_all(bootstrap: str, topic: str, expected: int, partitions: int = 4,
             timeout_s: float = 30.0) -> list:
    """Every message of `topic` (up to `expected`; what came within `timeout_s`)."""
    with _reading(bootstrap, topic, partitions) as (consumer, _):
        out: list = []
        deadline = time.monotonic() + timeout_s
        while len(out) < expected and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                out.extend(records)
        return out


def read_to_end(bootstrap: str, topic: str, partitions: int = 4,
                hang_guard_s: float = 60.0) -> list:
    """Every message of `topic`, up to the end offsets it has when called: exactly what was
    acknowledged before, duplicates included, however long the reading takes (after
    `hang_guard_s` the test fails). Not for Tansu on S3 storage, whose end offsets are stale."""
    with _reading(bootstrap, topic, partitions) as (consumer, parts):
        ends = consumer.end_offsets(parts)
        out: list = []
        deadline = time.monotonic() + hang_guard_s
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            assert time.monotonic() < deadline, \
                f"hang guard: {topic} not read after {hang_guard_s:g} s ({len(out)} messages)"
            for records in consumer.poll(timeout_ms=500).values():
                out.extend(records)
        return out


def committed_offsets(bootstrap: str, topic: str, group: str, partitions: int = 4
                      ) -> dict[int, int]:
    """`group`'s committed offset per partition of `topic`, 0 where none (OffsetFetch: does not
    join the group)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                             enable_auto_commit=False)
    try:
        return {p: consumer.committed(TopicPartition(topic, p)) or 0 for p in range(partitions)}
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topic: str, partitions: int = 4) -> dict[int, int]:
    """The end offset per partition of `topic` (ListOffsets: stale on Tansu's S3 storage)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        ends = consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        consumer.close()


def scene_key(rows) -> list[tuple]:
    """Scene rows as comparable tuples (times rounded to the microsecond), in frame order."""
    return [(r.start_frame, r.end_frame, round(r.start_s, 6), round(r.end_s, 6), r.row_id)
            for r in sorted(rows, key=lambda r: r.start_frame)]


def new_topic(bootstrap: str, prefix: str, partitions: int = 4, dlq: bool = True) -> str:
    """A fresh topic `<prefix>.<random>` (and its dead-letter topic when `dlq`), so tests on
    one session broker never see each other's messages."""
    from vstream.kafka import dlq_topic, ensure_topics

    name = f"{prefix}.{uuid.uuid4().hex[:8]}"
    topics = [name, dlq_topic(name)] if dlq else [name]
    assert ensure_topics(bootstrap, topics, partitions) == topics
    return name
