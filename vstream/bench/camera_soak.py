"""Camera soak: a fixed camera's long day through `vstream worker` with a frame model.

A camera stream never ends and never cuts: whatever a worker keeps per stream (trackers, people
in view, the open scene's frames, the saved state it writes to the changelog after every batch)
must stay the same size hour after hour. This benchmark loops vtest.avi (the fixed campus
camera of Debian's opencv-doc, 10 fps, re-encoded with a keyframe a second as a camera sends
it, then looped by remuxing) to `minutes` of video, puts every chunk (each GOP in parts, as
ingest sends a live camera) on a fresh Tansu broker,
and runs one worker with the frame model until it has processed them all. As it goes it samples
the process's resident memory, the part of it the embedded chDB store holds (its engine's own
allocator: the worker's memory is the rest), the size of the stream's latest saved state (its
changelog message, written once per batch) and the people in the gallery.
"""

from __future__ import annotations

import logging
import re
import resource
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from vstream.bench.broker import TansuBroker
from vstream.bench.live import PARTITIONS, camera_clip
from vstream.bench.runner import Background, Table
from vstream.detect.models import DEFAULT_MODEL
from vstream.chunk import DEFAULT_PART_S
from vstream.bench.soak import _rss_mb, loop_video
from vstream.errors import VStreamError

#: rows of the table: samples spread evenly over the run
SAMPLES = 10


def bench_camera_soak(work_dir: Path, *, minutes: float = 60.0, model: str = DEFAULT_MODEL,
                      analysis_fps: float = 5.0) -> Table:
    """The soak table (see the module docstring)."""
    from vstream.ingest.chunker import Chunker
    from vstream.ingest.ingester import ingest
    from vstream.kafka import ChunkProducer, dlq_topic, ensure_topics
    from vstream.kafka.worker import ChunkWorker
    from vstream.kafka.worker.stream_state import state_changelog
    from vstream.store import open_store

    logging.getLogger("kafka").setLevel(logging.ERROR)
    work_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="camera-soak-", dir=work_dir))
    try:
        frames, fps = loop_video(camera_clip(scratch / "camera.mp4"), scratch / "day.mp4", minutes)
        print(f"  {frames} frames ({frames / fps / 60:.1f} min) of the camera, model {model} at "
              f"{analysis_fps:g} analysed frames/s ...", flush=True)
        with TansuBroker(scratch / "tansu.log") as broker, \
                open_store(f"chdb://{scratch}/store") as store:
            topic = f"bench.soak.{uuid.uuid4().hex[:8]}"
            ensure_topics(broker.bootstrap, [topic, dlq_topic(topic)], PARTITIONS)
            with ChunkProducer(broker.bootstrap, topic) as producer:
                # in parts, as ingest sends a live camera, but at full speed
                sent = ingest(str(scratch / "day.mp4"), "camera", producer,
                              chunks_of=lambda src, sid, _: Chunker(src, sid, part_s=DEFAULT_PART_S))
            worker = ChunkWorker(broker.bootstrap, topic, store, group="soak", model=model,
                                 analysis_fps=analysis_fps, events_topic=None)
            states = _ChangelogSizes(broker.bootstrap, state_changelog("soak", topic))
            samples: list[tuple[int, float, float, int, int]] = []
            started = time.perf_counter()
            run = Background(lambda: worker.run(until_caught_up=True), "soak-worker")
            every = max(1, frames // SAMPLES)
            people = 0
            while run.alive():
                run.thread.join(1.0)
                states.read()
                people = _people(worker) or people  # the registry closes when the run ends
                done = worker.stats.frames
                last = (not run.alive() and not run.failed()
                        and (not samples or samples[-1][0] != done))
                if done // every > len(samples) or last:
                    samples.append((done, _rss_mb(), _store_mb(store), states.last, people))
            elapsed = time.perf_counter() - started
            states.close()
            stats = run.result()
            if stats.chunks != sent.chunks:
                raise VStreamError(f"the worker processed {stats.chunks} of {sent.chunks} chunks")
            events = store.query_readonly(
                "SELECT kind, count() FROM events GROUP BY kind ORDER BY kind").rows
            scenes = store.query_readonly("SELECT count() FROM scenes").rows[0][0]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    table = Table(f"Camera soak: {frames / fps / 60:.0f} min of vtest.avi looped through "
                  f"`vstream worker` (model {model}, {analysis_fps:g} analysed frames/s)",
                  ["frames done", "video time", "RSS MB", "of it chDB MB", "rest MB",
                   "saved state KB", "people in gallery"])
    for done, rss, chdb, state, people in samples:
        table.rows.append([str(done), f"{done / fps / 60:.1f} min", f"{rss:.0f}", f"{chdb:.0f}",
                           f"{rss - chdb:.0f}", f"{state / 1024:.0f}", str(people)])
    table.notes += [
        f"{stats.chunks} chunks, {stats.frames} frames in {elapsed:.0f} s "
        f"({stats.frames / fps / elapsed:.2f}x real time); {scenes} scenes; events "
        f"{', '.join(f'{k} {n}' for k, n in events)}. Peak RSS of the whole process (worker, "
        f"chDB, broker clients) {peak:.0f} MB; saved states are the changelog messages, one "
        f"per batch ({states.count} in all, largest {states.largest / 1024:.0f} KB). chDB: what "
        "its engine's allocator (jemalloc) holds resident; rest: the worker (Python, the "
        "model, decoding, broker clients, threads).",
        "vtest.avi (Debian opencv-doc, 768x576 10 fps, 79.5 s) re-encoded with a keyframe a "
        f"second, looped by remuxing, each GOP in parts of {DEFAULT_PART_S:g} s as a live camera "
        "is sent; all chunks are on the broker before the worker starts.",
    ]
    return table


def _store_mb(store) -> float:
    """MB resident in the embedded chDB engine's own allocator (jemalloc, linked into chDB and
    separate from the process's malloc)."""
    stats = store.backend.query("SELECT * FROM system.jemalloc_stats").rows[0][0]
    found = re.search(r"resident: (\d+)", stats)
    if found is None:
        raise VStreamError("chDB's jemalloc statistics have no resident count")
    return int(found.group(1)) / 2**20


def _people(worker) -> int:
    gallery = worker.settings.gallery
    return len(gallery) if gallery is not None else 0


class _ChangelogSizes:
    """The sizes of the messages on a worker group's state changelog, read as they come."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from vstream.kafka.clients import kafka_consumer

        self.topic = topic
        self.consumer = kafka_consumer(bootstrap, group_id=None, enable_auto_commit=False,
                                       auto_offset_reset="earliest",
                                       receive_message_max_bytes=128 * 1024 * 1024,
                                       max_partition_fetch_bytes=64 * 1024 * 1024)
        self.assigned = False
        self.last = self.largest = self.count = 0

    def read(self) -> None:
        from kafka import TopicPartition

        if not self.assigned:  # faust creates the changelog when the worker starts
            partitions = self.consumer.partitions_for_topic(self.topic)
            if not partitions:
                return
            self.consumer.assign([TopicPartition(self.topic, p) for p in partitions])
            self.assigned = True
        for records in self.consumer.poll(timeout_ms=100).values():
            for record in records:
                size = len(record.value or b"")
                if size:  # a tombstone (a finished stream) is not a state
                    self.last, self.largest = size, max(self.largest, size)
                    self.count += 1

    def close(self) -> None:
        self.consumer.close()
