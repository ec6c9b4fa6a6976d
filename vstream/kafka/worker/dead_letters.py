"""The dead-letter topic: where a message goes that is not a chunk or that FFmpeg cannot decode.

A letter is the message's key and value, with headers `reason`, `source_topic`,
`source_partition` and `source_offset`. Letters are sent as they come and acknowledged per batch
(`flush`), before the batch's stream states are saved: a chunk in a saved state is never
replayed, so its letter must be out.
"""

from __future__ import annotations

import logging
from typing import Any

from vstream.kafka.clients import kafka_producer
from vstream.kafka.worker.stats import WorkerStats
from vstream.metrics import Metrics

log = logging.getLogger(__name__)

#: the kinds of dead letter (the error's class): a message that is not a chunk, and a chunk
#: FFmpeg cannot decode
NOT_A_CHUNK = "ChunkFormatError"
UNDECODABLE = "DecodeError"
#: a reason is cut to this many characters (it travels in a header and in the log)
MAX_REASON_CHARS = 500


def one_line_reason(reason: str) -> str:
    """`reason` on one line, whitespace collapsed, at most MAX_REASON_CHARS long."""
    return " ".join(reason.split())[:MAX_REASON_CHARS]


def letter_headers(message: Any, reason: str) -> list[tuple[str, bytes]]:
    """The headers of the dead letter of `message` (a faust Message): why, and where from."""
    return [("reason", reason.encode()), ("source_topic", message.topic.encode()),
            ("source_partition", str(message.partition).encode()),
            ("source_offset", str(message.offset).encode())]


class DeadLetterSink:
    """Sends dead letters to `topic` (a kafka-python producer, made by `open`), counting each in
    `stats` and `metrics`."""

    def __init__(self, bootstrap: str, topic: str, stats: WorkerStats, metrics: Metrics) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.stats = stats
        self.metrics = metrics
        self._producer: Any = None

    def open(self, max_request_bytes: int) -> None:
        """Connect the producer (acks from all replicas, one request in flight, so letters stay
        in order). Raises BrokerUnavailableError."""
        self._producer = kafka_producer(
            self.bootstrap, client_id="vstream-worker-dlq", acks="all",
            max_in_flight_requests_per_connection=1, max_request_size=max_request_bytes)

    def send(self, message: Any, kind: str, reason: str) -> None:
        """Send `message` (a faust Message) to the dead-letter topic; `kind` is NOT_A_CHUNK or
        UNDECODABLE, `reason` the error."""
        reason = one_line_reason(reason)
        self.stats.dead_letters += 1
        self.stats.dlq_reasons.append(reason)
        self.metrics.dlq_messages.labels(kind).inc()
        self.metrics.chunks_dropped.labels("format" if kind == NOT_A_CHUNK else "decode").inc()
        log.warning("%s/%d@%d to %s: %s", message.topic, message.partition, message.offset,
                    self.topic, reason)
        self._producer.send(self.topic, key=message.key, value=message.value or b"",
                            headers=letter_headers(message, reason))

    def flush(self) -> None:
        """Wait until the broker acknowledged every letter sent."""
        self._producer.flush()

    def close(self) -> None:
        """Flush and close the producer (nothing when it is not open)."""
        if self._producer is not None:
            self._producer.close(timeout=10)
            self._producer = None
