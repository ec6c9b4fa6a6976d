"""Reading a topic back in tests: every message, by direct partition assignment."""

from __future__ import annotations

import time

from kafka import KafkaConsumer, TopicPartition


def read_all(bootstrap: str, topic: str, expected: int, partitions: int = 4,
             timeout_s: float = 30.0) -> list:
    """Every message of `topic` (up to `expected`), assigning its partitions directly: no
    consumer-group join to wait for."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        out: list = []
        deadline = time.monotonic() + timeout_s
        while len(out) < expected and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                out.extend(records)
        return out
    finally:
        consumer.close()
