"""ChunkProducer: GopChunks onto a Kafka topic, ordered per stream, with bounded buffering.

kafka-python 2.3 dropped `buffer_memory`, so its accumulator grows without limit while a broker is
down. ChunkProducer bounds it itself: bytes handed to kafka-python and not yet acknowledged count
against `max_buffer_bytes`; a `send` that would pass it waits (back-pressure on the demuxer) up to
`block_timeout_s`, then raises ProducerBlockedError. A message the broker refuses or that outlives
its delivery deadline is counted, logged and raised from the next `send`, `flush` or `close`:
nothing is dropped silently. While a broker restarts, sends fill the buffer and kafka-python retries
delivery (until `delivery_timeout_s`), trying to reconnect at least once a second, so delivery
resumes within about a second of the broker's return (tested: Tansu killed mid-ingest for 16 s,
every chunk delivered, in order).

Idempotence is off by default: Tansu 0.6 accepts InitProducerId but then fails every idempotent
produce with UNKNOWN_SERVER_ERROR. Apache Kafka and Redpanda support it (`idempotent=True`).
Without it, one request in flight per connection keeps retries from reordering a stream; a retry
can still duplicate a message, so consumers deduplicate on (stream_id, seq).
"""

from __future__ import annotations

import logging
import threading
import time
from functools import partial

from vstream.chunk import VERSION, GopChunk
from vstream.kafka.clients import close_producer, kafka_producer
from vstream.kafka.errors import BrokerUnavailableError, DeliveryError, ProducerBlockedError
from vstream.metrics import Metrics

log = logging.getLogger(__name__)

MiB = 1024 * 1024
FORMAT_HEADER = f"vsgc/{VERSION}".encode()


class ChunkProducer:
    """Sends GopChunks to `topic`: key = stream_id, value = `chunk.to_bytes()`.

    Headers: `seq` (decimal), `stream_id`, `format` (b"vsgc/<chunk format version>").
    Use as a context manager, or call `close()`: it flushes and raises if anything failed.
    """

    def __init__(self, bootstrap: str, topic: str, *, max_buffer_bytes: int = 64 * MiB,
                 block_timeout_s: float = 30.0, delivery_timeout_s: float = 120.0,
                 max_request_bytes: int = 16 * MiB, idempotent: bool = False,
                 metrics: Metrics | None = None) -> None:
        if max_buffer_bytes <= 0 or block_timeout_s < 0:
            raise ValueError("max_buffer_bytes must be > 0 and block_timeout_s >= 0")
        self.bootstrap = bootstrap
        self.topic = topic
        self.max_buffer_bytes = max_buffer_bytes
        self.block_timeout_s = block_timeout_s
        #: chunks acknowledged by the broker, and their bytes
        self.acked = 0
        self.acked_bytes = 0
        #: chunks that failed delivery; sends refused after blocking on a full buffer
        self.failed = 0
        self.blocked = 0
        self._pending_bytes = 0
        self._pending = 0
        self._errors: list[str] = []
        self._cond = threading.Condition()
        self._closed = False
        self.metrics = metrics
        if metrics is not None:
            metrics.producer_buffer_limit.set(max_buffer_bytes)
            # read at scrape time, on the HTTP thread: an int read needs no lock
            metrics.producer_buffer.set_function(lambda: self._pending_bytes)
        # reconnects at least once a second: `clients.RECONNECT_BACKOFF_MAX_MS`
        self._producer = kafka_producer(
            bootstrap,
            client_id="vstream-ingest",
            acks="all",
            retries=2**31 - 1,  # bounded by delivery_timeout_ms
            enable_idempotence=idempotent,
            max_in_flight_requests_per_connection=5 if idempotent else 1,
            delivery_timeout_ms=int(delivery_timeout_s * 1000),
            request_timeout_ms=min(30_000, int(delivery_timeout_s * 1000)),
            max_block_ms=int(max(block_timeout_s, 1.0) * 1000),
            max_request_size=max_request_bytes,
            linger_ms=5,
        )

    @property
    def pending_bytes(self) -> int:
        """Bytes handed to the client and not yet acknowledged."""
        return self._pending_bytes

    def send(self, chunk: GopChunk) -> None:
        """Queue one chunk; blocks while the buffer is full, up to `block_timeout_s`."""
        from kafka.errors import KafkaError as _ClientError
        from kafka.errors import KafkaTimeoutError

        self._raise_failures()
        value = chunk.to_bytes()
        size = len(value)
        if size > self.max_buffer_bytes:
            self._count_drop("too_big")
            raise DeliveryError(f"chunk {chunk.stream_id}/{chunk.seq} is {size} bytes, more than "
                                f"the {self.max_buffer_bytes}-byte send buffer")
        self._reserve(size, chunk)
        headers = [("seq", str(chunk.seq).encode()), ("stream_id", chunk.stream_id.encode()),
                   ("format", FORMAT_HEADER)]
        try:
            future = self._producer.send(self.topic, key=chunk.stream_id.encode(), value=value,
                                         headers=headers)
        except KafkaTimeoutError as ex:
            self._release(size)
            self.blocked += 1
            self._count_drop("no_metadata")
            raise BrokerUnavailableError(
                f"no metadata for topic {self.topic!r} from {self.bootstrap} within "
                f"{self.block_timeout_s:g} s (broker down, or the topic does not exist)") from ex
        except _ClientError as ex:
            self._release(size)
            self.failed += 1
            self._count_drop("delivery_failed")
            raise DeliveryError(f"chunk {chunk.stream_id}/{chunk.seq} refused: {ex}") from ex
        future.add_callback(partial(self._on_ack, size, chunk.stream_id))
        future.add_errback(partial(self._on_error, size, f"{chunk.stream_id}/{chunk.seq}"))

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait until every queued chunk is acknowledged; raise if any failed or time ran out."""
        from kafka.errors import KafkaTimeoutError

        try:
            self._producer.flush(timeout=timeout_s)
        except KafkaTimeoutError as ex:
            raise DeliveryError(f"{self._pending} chunks ({self._pending_bytes} bytes) not "
                                f"acknowledged by {self.bootstrap} within {timeout_s:g} s") from ex
        self._raise_failures()

    def close(self, timeout_s: float = 60.0) -> None:
        """Flush (raising on failures) and release the connection; closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        delivered = False
        try:
            self.flush(timeout_s)
            delivered = True
        finally:
            # undelivered batches fail when the sender is aborted, counted by _on_error
            close_producer(self._producer, 5, delivered)

    def __enter__(self) -> ChunkProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
        else:  # already failing: do not mask that error with a flush error
            try:
                self.close(timeout_s=5)
            except Exception:
                log.debug("close after an error failed too", exc_info=True)

    # -- buffer accounting (callbacks run on kafka-python's sender thread) -----------------------

    def _reserve(self, size: int, chunk: GopChunk) -> None:
        deadline = time.monotonic() + self.block_timeout_s
        with self._cond:
            while self._pending and self._pending_bytes + size > self.max_buffer_bytes:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.blocked += 1
                    self._count_drop("buffer_full")
                    log.error("send buffer full for %.1f s (%d chunks, %d bytes unacknowledged by "
                              "%s); refusing chunk %s/%d (%d refused so far)", self.block_timeout_s,
                              self._pending, self._pending_bytes, self.bootstrap,
                              chunk.stream_id, chunk.seq, self.blocked)
                    raise ProducerBlockedError(
                        f"Kafka at {self.bootstrap} took nothing for {self.block_timeout_s:g} s: "
                        f"{self._pending} chunks ({self._pending_bytes} bytes) unacknowledged, "
                        f"buffer full; chunk {chunk.stream_id}/{chunk.seq} not sent")
                self._cond.wait(left)
                self._raise_failures()
            self._pending += 1
            self._pending_bytes += size

    def _release(self, size: int) -> None:
        with self._cond:
            self._pending -= 1
            self._pending_bytes -= size
            self._cond.notify_all()

    def _on_ack(self, size: int, stream_id: str, _metadata: object) -> None:
        self._release(size)
        with self._cond:
            self.acked += 1
            self.acked_bytes += size
        if self.metrics is not None:
            self.metrics.chunks_produced.labels(stream_id).inc()

    def _on_error(self, size: int, which: str, ex: BaseException) -> None:
        self._release(size)
        with self._cond:
            self.failed += 1
            self._errors.append(f"chunk {which}: {ex}")
        self._count_drop("delivery_failed")
        log.error("Kafka delivery failed for chunk %s (%d failed so far): %s", which, self.failed, ex)

    def _count_drop(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.chunks_dropped.labels(reason).inc()

    def _raise_failures(self) -> None:
        with self._cond:
            if not self._errors:
                return
            first, count = self._errors[0], self.failed
            self._errors.clear()
        raise DeliveryError(f"{count} chunks not delivered to {self.topic!r} at {self.bootstrap}; "
                            f"first: {first}")
