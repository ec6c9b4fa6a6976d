"""Prometheus metrics of `vstream ingest` and `vstream worker`, on a registry of their own.

    from vstream.metrics import Metrics
    metrics = Metrics()
    url = metrics.serve(9100)            # GET http://host:9100/metrics
    worker = ChunkWorker(..., metrics=metrics)

Each `Metrics` owns its CollectorRegistry (not prometheus_client's global one), so two drivers,
benchmarks or tests in one process never share counters, and /metrics shows only vstream's
series. Label values are stream IDs, topics, partitions and short fixed reasons; a source URL is
only ever shown redacted (`vstream.redact.redact_url`), so no credential reaches a scrape.

What is measured, and where:

| metric | type | labels | set by |
|---|---|---|---|
| vstream_chunks_processed_total | counter | stream_id | worker: chunk decoded and segmented |
| vstream_frames_processed_total | counter | stream_id | worker |
| vstream_scene_rows_stored_total | counter | stream_id | worker: rows closed and stored |
| vstream_consumer_lag | gauge | topic, partition | worker: end offset - position, every few s |
| vstream_capture_to_row_seconds | histogram | | worker: capture of a scene's last frame to its row written (live / --realtime chunks only) |
| vstream_capture_to_event_row_seconds | histogram | kind | worker: capture of an event's frame to its row written (live / --realtime chunks only) |
| vstream_capture_to_event_published_seconds | histogram | kind | worker: capture of an event's frame to its message acknowledged on the events topic |
| vstream_chunk_latency_seconds | histogram | | worker: chunk capture to its offset committed |
| vstream_chunks_dropped_total | counter | reason | worker: duplicate, format, decode; ingest: delivery_failed, buffer_full, no_metadata, too_big (each also raised) |
| vstream_dlq_messages_total | counter | reason | worker: ChunkFormatError, DecodeError |
| vstream_store_write_retries_total | counter | | worker: store writes retried (store down) |
| vstream_offset_commits_total | counter | | worker |
| vstream_events_published_total | counter | kind | worker: messages on the events topic acknowledged (enter, leave, count, scene; a replay publishes again) |
| vstream_chunks_produced_total | counter | stream_id | ingest: chunks acknowledged by the broker |
| vstream_ingest_reconnects_total | counter | stream_id | ingest: live source reopen attempts |
| vstream_ingest_gaps_total | counter | stream_id | ingest: live gaps |
| vstream_producer_buffer_bytes | gauge | | ingest: sent, not yet acknowledged |
| vstream_producer_buffer_limit_bytes | gauge | | ingest: the buffer's bound |
| vstream_ingest_source_info | info | stream_id, source | ingest: the source, redacted |
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, start_http_server

from vstream.errors import VStreamError

log = logging.getLogger(__name__)

# Seconds; a scene row's latency is dominated by the shot detector's look-ahead (up to a few
# seconds) and the GOP length; an event's by the GOP length and the leave time.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0, 120.0,
                   300.0)


class Metrics:
    """The metric families of ingest and worker; `serve(port)` exposes them over HTTP."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # -- worker
        self.chunks_processed = Counter("vstream_chunks_processed", "Chunks decoded and segmented "
                                        "by the worker", ["stream_id"], registry=r)
        self.frames_processed = Counter("vstream_frames_processed", "Frames decoded and segmented "
                                        "by the worker", ["stream_id"], registry=r)
        self.rows_written = Counter("vstream_scene_rows_stored", "Scene rows closed and stored "
                                    "(a row replayed after a restart, which the store already had "
                                    "and skipped, counts again)", ["stream_id"], registry=r)
        self.consumer_lag = Gauge("vstream_consumer_lag", "Messages after the worker's position "
                                  "on each assigned partition (end offset - position)",
                                  ["topic", "partition"], registry=r)
        self.capture_to_row = Histogram(
            "vstream_capture_to_row_seconds", "Wall-clock capture time of a scene's last frame to "
            "the scene row written (chunks with a capture time only: live, or --realtime files)",
            buckets=LATENCY_BUCKETS, registry=r)
        self.capture_to_event_row = Histogram(
            "vstream_capture_to_event_row_seconds", "Wall-clock capture time of an enter, leave "
            "or count event's frame to its row written (live or --realtime chunks only)",
            ["kind"], buckets=LATENCY_BUCKETS, registry=r)
        self.capture_to_event_published = Histogram(
            "vstream_capture_to_event_published_seconds", "Wall-clock capture time of an enter, "
            "leave or count event's frame to its message acknowledged on the events topic",
            ["kind"], buckets=LATENCY_BUCKETS, registry=r)
        self.chunk_latency = Histogram(
            "vstream_chunk_latency_seconds", "Wall-clock capture time of a chunk's first frame to "
            "its offset committed (its rows written)", buckets=LATENCY_BUCKETS, registry=r)
        self.chunks_dropped = Counter("vstream_chunks_dropped", "Chunks not processed or not "
                                      "sent, by reason", ["reason"], registry=r)
        self.dlq_messages = Counter("vstream_dlq_messages", "Messages sent to the dead-letter "
                                    "topic, by reason", ["reason"], registry=r)
        self.store_retries = Counter("vstream_store_write_retries", "Store writes retried after "
                                     "a store error (the store was down or refused)", registry=r)
        self.commits = Counter("vstream_offset_commits", "Offset commits by the worker", registry=r)
        self.events_published = Counter("vstream_events_published", "Messages on the events "
                                        "topic acknowledged by the broker, by kind (a replay "
                                        "after a restart publishes again)", ["kind"], registry=r)
        # -- ingest
        self.chunks_produced = Counter("vstream_chunks_produced", "Chunks acknowledged by the "
                                       "broker", ["stream_id"], registry=r)
        self.reconnects = Counter("vstream_ingest_reconnects", "Reopen attempts of a live source",
                                  ["stream_id"], registry=r)
        self.gaps = Counter("vstream_ingest_gaps", "Gaps in a live source (dropped, then back)",
                            ["stream_id"], registry=r)
        self.producer_buffer = Gauge("vstream_producer_buffer_bytes", "Bytes sent to the broker "
                                     "and not yet acknowledged", registry=r)
        self.producer_buffer_limit = Gauge("vstream_producer_buffer_limit_bytes", "Bound of the "
                                           "producer's unacknowledged bytes (send blocks beyond)",
                                           registry=r)
        self.source_info = Info("vstream_ingest_source", "The source of an ingested stream "
                                "(credentials removed)", ["stream_id"], registry=r)
        self._server: Any = None

    def serve(self, port: int, addr: str = "0.0.0.0") -> str:
        """Serve /metrics on `port` (0 < port < 65536) in a daemon thread; return its URL.

        Raises VStreamError when the port cannot be bound (in use, or privileged).
        """
        if not 0 < port < 65536:
            raise ValueError(f"metrics port must be 1..65535, got {port}")
        try:
            self._server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        except OSError as ex:
            raise VStreamError(f"cannot serve metrics on {addr}:{port}: {ex.strerror or ex}") from ex
        host = socket.gethostname() if addr in ("0.0.0.0", "::") else addr
        return f"http://{host}:{port}/metrics"

    def close(self) -> None:
        """Stop serving (idempotent); the metrics stay readable through `value`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def value(self, name: str, **labels: str) -> float:
        """The current value of one sample (0.0 when absent): for tests and benchmarks."""
        got = self.registry.get_sample_value(name, labels)
        return 0.0 if got is None else got
