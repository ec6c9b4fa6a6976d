"""Operating ingest and worker: Prometheus metrics over HTTP, a ClickHouse outage mid-run.

Real broker (Tansu), real stores (chDB in tmp, a ClickHouse 18.16 server this test may stop).
Fast shot detector and no tags keep these tests quick.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import urllib.request

from kafka import KafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from video_clips import encode_clip  # tests/ is on pythonpath (pyproject)
from kafka_messages import new_topic, scene_key  # tests/ is on pythonpath (pyproject)
from vstream.ingest.ingester import ingest
from vstream.kafka import ChunkProducer
from vstream.metrics import Metrics
from vstream.store import open_store
from vstream.weights import test_video_path
from vstream.kafka.worker import ChunkWorker

PARTITIONS = 4
#: a worker finishes its streams after this long without a message. The chunks are all on the
#: topic before a worker starts, so only a slow fetch can look idle: with 3 s, a busy two-core CI
#: run once ended run 2 of the metrics test one chunk early (10 + 89 of 100). Still a clock;
#: waiting on a state instead needs a worker stop that also finishes streams (to do).
IDLE_S = 15.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _scrape(url: str) -> dict[tuple[str, tuple], float]:
    """GET /metrics and parse it: {(sample name, sorted label items): value}."""
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


class _StopAfterFirstWrite:
    """A store that sets `stop` once the first scene rows are written."""

    def __init__(self, store, stop: threading.Event) -> None:
        self.store, self.stop = store, stop

    def write_scenes(self, rows) -> int:
        written = self.store.write_scenes(rows)
        self.stop.set()
        return written

    def __getattr__(self, name):
        return getattr(self.store, name)


def _committed(bootstrap: str, topic: str, group: str) -> dict[int, int]:
    """The group's committed offset per partition (OffsetFetch; does not join the group)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                             enable_auto_commit=False)
    try:
        return {p: consumer.committed(TopicPartition(topic, p)) or 0 for p in range(PARTITIONS)}
    finally:
        consumer.close()


def test_metrics_over_http_match_what_the_worker_did(kafka_broker: str, tmp_path) -> None:
    topic = new_topic(kafka_broker, "test.ops", PARTITIONS)
    produced = Metrics()
    with ChunkProducer(kafka_broker, topic, metrics=produced) as producer:
        sent = ingest(str(test_video_path()), "music", producer, metrics=produced)
    assert produced.value("vstream_chunks_produced_total", stream_id="music") == sent.chunks == 100
    assert produced.value("vstream_producer_buffer_bytes") == 0  # all acknowledged
    assert produced.value("vstream_producer_buffer_limit_bytes") == producer.max_buffer_bytes

    with open_store(f"chdb://{tmp_path}/store") as store:
        # Run 1 stops after its first write: its lag gauge shows the chunks left behind.
        first_metrics = Metrics()
        stop = threading.Event()
        first = ChunkWorker(kafka_broker, topic, _StopAfterFirstWrite(store, stop), group="m",
                            shots="fast", model="none", max_poll_records=10,
                            metrics=first_metrics).run(stop_event=stop, max_idle_s=IDLE_S)
        committed = sum(_committed(kafka_broker, topic, "m").values())
        assert 0 < first.chunks == committed < 100
        lag = sum(s.value for family in first_metrics.registry.collect()
                  if family.name == "vstream_consumer_lag" for s in family.samples)
        assert lag == 100 - committed

        # Run 2, served over HTTP and scraped while it runs and after it has finished.
        metrics = Metrics()
        url = metrics.serve(_free_port(), addr="127.0.0.1")
        worker = ChunkWorker(kafka_broker, topic, store, group="m", shots="fast", model="none",
                             max_poll_records=10, metrics=metrics)
        result = {}
        thread = threading.Thread(target=lambda: result.update(
            stats=worker.run(max_idle_s=IDLE_S)))
        try:
            thread.start()
            during = {}
            deadline = time.monotonic() + 120
            while thread.is_alive() and time.monotonic() < deadline:
                during = _scrape(url)
                if during.get(("vstream_chunks_processed_total", (("stream_id", "music"),)), 0):
                    break
                time.sleep(0.2)
            thread.join(120)
            assert not thread.is_alive()
            after = _scrape(url)
        finally:
            metrics.close()
        stats = result["stats"]

    music = (("stream_id", "music"),)
    assert ("vstream_chunks_processed_total", music) in during  # served while running
    assert first.chunks + stats.chunks == 100 and stats.streams_finished == 1
    assert after[("vstream_chunks_processed_total", music)] == stats.chunks
    assert after[("vstream_frames_processed_total", music)] == stats.frames
    assert first.frames + stats.frames == 5301
    assert after[("vstream_offset_commits_total", ())] == stats.commits
    assert after[("vstream_scene_rows_stored_total", music)] >= stats.rows_written > 0
    assert all(v == 0 for (name, _), v in after.items() if name == "vstream_consumer_lag")
    assert any(name == "vstream_consumer_lag" for name, _ in after)
    # A file sent at full speed has no capture times: no latency samples.
    assert after[("vstream_capture_to_row_seconds_count", ())] == 0
    assert after.get(("vstream_chunks_dropped_total", (("reason", "duplicate"),)), 0) == 0


def test_realtime_chunks_give_latency_samples(kafka_broker: str, tmp_path) -> None:
    # 12 s at 25 fps, a keyframe every 25 frames: the fast detector closes its first scenes
    # about 5 s after they end, so a shorter clip would have all its scenes closed by its end
    clip = encode_clip(tmp_path / "clip.mp4", range(300), gop=25)
    topic = new_topic(kafka_broker, "test.ops", PARTITIONS)
    started = time.time()
    with ChunkProducer(kafka_broker, topic) as producer:
        sent = ingest(str(clip), "clip", producer, realtime=True)
    metrics = Metrics()
    with open_store(f"chdb://{tmp_path}/store") as store:
        stats = ChunkWorker(kafka_broker, topic, store, group="lat", shots="fast", model="none",
                            metrics=metrics).run(max_idle_s=IDLE_S)
        rows = store.count("scenes")
    elapsed = time.time() - started
    assert stats.chunks == sent.chunks >= 12  # x264 adds keyframes at cuts
    assert metrics.value("vstream_chunk_latency_seconds_count") == sent.chunks
    assert len(stats.chunk_latencies) == sent.chunks
    # Scenes closed while the stream ran have a latency sample; those that only the stream's
    # end closed (finish, after the idle wait, which is not the worker's latency) have none.
    samples = metrics.value("vstream_capture_to_row_seconds_count")
    assert 0 < samples == len(stats.latencies) < rows
    # capture times are real wall-clock times: every latency is within this test's run
    assert all(0 <= s <= elapsed for s in [*stats.latencies, *stats.chunk_latencies])


def test_clickhouse_outage_retries_commits_nothing_unwritten_and_catches_up(
        kafka_broker: str, own_clickhouse_server, reference, caplog) -> None:
    topic = new_topic(kafka_broker, "test.ops", PARTITIONS)
    with ChunkProducer(kafka_broker, topic) as producer:
        assert ingest(str(test_video_path()), "music", producer).chunks == 100
    caplog.set_level(logging.WARNING, logger="vstream.kafka.worker")
    metrics = Metrics()
    with open_store(own_clickhouse_server.url) as store:
        worker = ChunkWorker(kafka_broker, topic, store, group="outage", shots="fast", model="none",
                             max_poll_records=5, metrics=metrics, max_store_backoff_s=2.0)
        result = {}
        stop = threading.Event()
        timer = threading.Timer(240, stop.set)  # a hung worker fails the test, not the session
        timer.start()
        thread = threading.Thread(target=lambda: result.update(
            stats=worker.run(stop_event=stop, max_idle_s=IDLE_S)))
        thread.start()
        try:
            deadline = time.monotonic() + 60
            while worker.stats.rows_written == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert worker.stats.rows_written > 0, "the worker wrote nothing before the outage"
            own_clickhouse_server.stop()
            time.sleep(1.0)  # a commit in flight when the server went away lands first
            before = _committed(kafka_broker, topic, "outage")
            chunks_before = worker.stats.chunks
            time.sleep(15)
            during = _committed(kafka_broker, topic, "outage")
            retries = worker.stats.store_retries
            stuck_chunks = worker.stats.chunks
            own_clickhouse_server.start()
            thread.join(180)
            assert not thread.is_alive(), "the worker did not catch up"
        finally:
            stop.set()
            timer.cancel()
            thread.join(30)
        stats = result["stats"]
        # No commit while the rows could not be written, and the worker waited for the store
        # instead of running ahead (at most the batch it was writing was decoded).
        assert during == before and sum(before.values()) < 100
        assert stuck_chunks - chunks_before <= 5
        assert retries >= 3  # back-off capped at 2 s over 15 s
        assert metrics.value("vstream_store_write_retries_total") == stats.store_retries >= retries
        # Caught up: every chunk once, rows equal to `vstream index`, no duplicates.
        assert stats.chunks == 100 and stats.frames == 5301 and stats.streams_finished == 1
        assert stats.duplicates == 0 and stats.dead_letters == 0
        assert sum(_committed(kafka_broker, topic, "outage").values()) == 100
        assert scene_key(store.scenes_of("music")) == reference
        assert store.query_readonly("SELECT count() FROM scenes").rows[0][0] == len(reference)
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("vstream.kafka.worker")]
    assert any("store error while writing" in m and "retrying in" in m for m in messages)
    assert any(m.startswith("store back after") for m in messages)
