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

from prometheus_client.parser import text_string_to_metric_families

from video_clips import encode_clip  # tests/ is on pythonpath (pyproject)
from kafka_messages import committed_offsets, new_topic, scene_key  # tests/ on pythonpath
from kafka_workers import run_guarded, run_until_caught_up  # tests/ is on pythonpath
from vstream.ingest.ingester import ingest
from vstream.kafka import ChunkProducer
from vstream.metrics import Metrics
from vstream.store import open_store
from vstream.weights import test_video_path
from vstream.kafka.worker import ChunkWorker

PARTITIONS = 4
#: how long a test waits for a state of the worker; only a hang should reach it
HANG_GUARD_S = 120.0


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


class _OutageAfterFirstWrite:
    """A store whose server is stopped right after the first scene rows are written, on the
    worker's thread, so the outage starts at the same point of the run on any machine."""

    def __init__(self, store, server) -> None:
        self.store, self.server = store, server
        self.started = threading.Event()

    def write_scenes(self, rows) -> int:
        written = self.store.write_scenes(rows)
        if not self.started.is_set():
            self.server.stop()
            self.started.set()
        return written

    def __getattr__(self, name):
        return getattr(self.store, name)


def _wait_until(what: str, check, thread: threading.Thread) -> None:
    """Wait for `check()`, a state of the worker running on `thread`; fail if the thread ends
    first, or (hang guard) after HANG_GUARD_S."""
    deadline = time.monotonic() + HANG_GUARD_S
    while not check():
        assert thread.is_alive(), f"the worker stopped before {what}"
        assert time.monotonic() < deadline, f"hang guard: no {what} after {HANG_GUARD_S:g} s"
        time.sleep(0.05)


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
        first = run_guarded(ChunkWorker(kafka_broker, topic, _StopAfterFirstWrite(store, stop),
                                        group="m", shots="fast", model="none",
                                        max_poll_records=10, metrics=first_metrics).run, stop)
        committed = sum(committed_offsets(kafka_broker, topic, "m").values())
        assert 0 < first.chunks == committed < 100
        lag = sum(s.value for family in first_metrics.registry.collect()
                  if family.name == "vstream_consumer_lag" for s in family.samples)
        assert lag == 100 - committed

        # Run 2, until caught up: served over HTTP, scraped while it runs and after it has
        # finished.
        metrics = Metrics()
        url = metrics.serve(_free_port(), addr="127.0.0.1")
        worker = ChunkWorker(kafka_broker, topic, store, group="m", shots="fast", model="none",
                             max_poll_records=10, metrics=metrics)
        result = {}
        stop = threading.Event()  # only if the test fails: a hung worker must not hang pytest
        thread = threading.Thread(target=lambda: result.update(
            stats=worker.run(stop_event=stop, until_caught_up=True)))
        try:
            thread.start()
            during = {}
            deadline = time.monotonic() + HANG_GUARD_S
            while thread.is_alive() and time.monotonic() < deadline:
                during = _scrape(url)
                if during.get(("vstream_chunks_processed_total", (("stream_id", "music"),)), 0):
                    break
                time.sleep(0.2)
            thread.join(HANG_GUARD_S)
            assert not thread.is_alive(), "hang guard: the worker did not catch up"
            after = _scrape(url)
        finally:
            stop.set()
            thread.join(30)
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
        stats = run_until_caught_up(ChunkWorker(kafka_broker, topic, store, group="lat",
                                                shots="fast", model="none", metrics=metrics))
        rows = store.count("scenes")
    elapsed = time.time() - started
    assert stats.chunks == sent.chunks >= 12  # x264 adds keyframes at cuts
    assert metrics.value("vstream_chunk_latency_seconds_count") == sent.chunks
    assert len(stats.chunk_latencies) == sent.chunks
    # Scenes closed while the stream ran have a latency sample; those that only the stream's
    # end closed (finished once the worker caught up: not the worker's latency) have none.
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
        outage = _OutageAfterFirstWrite(store, own_clickhouse_server)
        worker = ChunkWorker(kafka_broker, topic, outage, group="outage", shots="fast",
                             model="none", max_poll_records=5, metrics=metrics,
                             max_store_backoff_s=2.0)
        result = {}
        stop = threading.Event()  # only if the test fails: a hung worker must not hang pytest
        thread = threading.Thread(target=lambda: result.update(
            stats=worker.run(stop_event=stop, until_caught_up=True)))
        thread.start()
        try:
            _wait_until("outage", outage.started.is_set, thread)
            _wait_until("failed write", lambda: worker.stats.store_retries >= 1, thread)
            # Stuck on a batch it cannot write: no ack from here on. faust commits a round a
            # second, one at a time, and counts empty rounds too: the second round to end after
            # this point began after it, so it carried every ack made before the outage.
            chunks_before, commits = worker.stats.chunks, worker.stats.commits
            _wait_until("two commit rounds", lambda: worker.stats.commits >= commits + 2, thread)
            before = committed_offsets(kafka_broker, topic, "outage")
            # The outage goes on through back-off retries and more commit rounds.
            _wait_until("three retries and two more commit rounds",
                        lambda: worker.stats.store_retries >= 3
                        and worker.stats.commits >= commits + 4, thread)
            during = committed_offsets(kafka_broker, topic, "outage")
            retries = worker.stats.store_retries
            stuck_chunks = worker.stats.chunks
            own_clickhouse_server.start()
            thread.join(HANG_GUARD_S)
            assert not thread.is_alive(), "hang guard: the worker did not catch up"
        finally:
            stop.set()
            thread.join(30)
        stats = result["stats"]
        # No commit while the rows could not be written, and the worker waited for the store
        # instead of running ahead (not one chunk fed past the batch it could not write).
        assert during == before and sum(before.values()) < 100
        assert stuck_chunks == chunks_before
        assert metrics.value("vstream_store_write_retries_total") == stats.store_retries >= retries
        # Caught up: every chunk once, rows equal to `vstream index`, no duplicates.
        assert stats.chunks == 100 and stats.frames == 5301 and stats.streams_finished == 1
        assert stats.duplicates == 0 and stats.dead_letters == 0
        assert sum(committed_offsets(kafka_broker, topic, "outage").values()) == 100
        assert scene_key(store.scenes_of("music")) == reference
        assert store.query_readonly("SELECT count() FROM scenes").rows[0][0] == len(reference)
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("vstream.kafka.worker")]
    assert any("store error while writing" in m and "retrying in" in m for m in messages)
    assert any(m.startswith("store back after") for m in messages)
