"""`vstream bench live`: how soon a camera's events reach the store and the events topic.

1. Start a Tansu broker (memory storage, loopback) and open a chDB store in a fresh directory.
2. Start a `ChunkWorker` with the frame model under test and a follower on the events topic
   (no consumer group, as `vstream events --follow`).
3. `vstream ingest --realtime` of each source (each GOP in parts of `DEFAULT_PART_S`, as
   `vstream ingest` sends a live source): a fixed camera (vtest.avi from Debian's opencv-doc,
   768x576 10 fps, re-encoded to H.264 with a keyframe every second and no B-frames, as IP
   cameras send it) and the music video (the test video, whose scenes cut every few seconds).
4. Per source: p50 / p95 / max seconds from the capture of an event's frame to its row
   written, to its message acknowledged by the broker, and to the follower receiving it; how
   many people entered and left; whether the topic and the store hold the same events.

The capture time of a frame is the wall-clock time ingest sent its chunk's first packet plus
the frame's offset in the chunk, so a chunk's own length (a part of a GOP) is part of every
latency: an event cannot be seen before the chunk holding its frame is complete.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np

from vstream.bench.broker import TansuBroker
from vstream.bench.runner import Table, percentiles
from vstream.chunk import DEFAULT_PART_S
from vstream.detect.models import DEFAULT_MODEL
from vstream.errors import VStreamError

#: the fixed campus camera of Debian's opencv-doc package
VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
PARTITIONS = 4


def camera_clip(out: Path, loops: int = 1) -> Path:
    """vtest.avi (`loops` times over) re-encoded as H.264 at its own size and 10 fps, with a
    keyframe every 10 frames (1 s) and no B-frames: what an IP camera sends."""
    import av

    if not VTEST.is_file():
        raise VStreamError(f"{VTEST} is missing: install Debian's opencv-doc "
                           "(scripts/install-debian-packages.sh opencv-doc)")
    with av.open(str(VTEST)) as src:
        width, height = src.streams.video[0].width, src.streams.video[0].height
    with av.open(str(out), "w") as dst:
        stream = dst.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"g": "10", "keyint_min": "10", "sc_threshold": "0", "bf": "0"}
        for _ in range(loops):
            with av.open(str(VTEST)) as src:
                for frame in src.decode(video=0):
                    image = frame.to_ndarray(format="rgb24")
                    for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                        dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    return out


def bench_live(work_dir: Path, *, model: str = DEFAULT_MODEL, seconds: float = 60.0,
               sources: tuple[str, ...] = ("camera", "music")) -> Table:
    """The latency table (see the module docstring); `seconds` of real-time ingest per source."""
    from vstream.weights import test_video_path

    logging.getLogger("kafka").setLevel(logging.ERROR)
    work_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="live-bench-", dir=work_dir))
    table = Table(f"Live events: capture to store and topic (model={model}, real-time ingest, "
                  f"{seconds:g} s per source)", ["measurement", "camera (vtest.avi)", "music video"])
    try:
        videos = {"camera": lambda: camera_clip(scratch / "camera.mp4"),
                  "music": test_video_path}
        results = {name: _measure(scratch, Path(videos[name]()), name, model, seconds)
                   for name in sources}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    names = ("camera", "music")

    def row(label: str, key: str) -> list[str]:
        return [label] + [results[n][key] if n in results else "-" for n in names]

    table.rows += [
        row("events (enter / leave / count)", "events"),
        row("capture -> event row s, p50 / p95 / max", "row"),
        row("capture -> event acknowledged on the topic s, p50 / p95 / max", "published"),
        row("capture -> event received by a follower s, p50 / p95 / max", "followed"),
        row("  of which enter / leave / count, p95", "by_kind"),
        row("capture -> scene row s, p50 / p95 / max", "scene"),
        row("chunk capture -> offsets committed s, p50 / p95 / max", "chunk"),
        row("topic and store hold the same events", "agree"),
        row("chunks ingested / processed", "chunks"),
    ]
    table.notes += [
        "One process runs broker clients, ingest (real-time pacing, each GOP in parts of "
        f"{DEFAULT_PART_S:g} s), worker and follower. The camera is vtest.avi re-encoded with a "
        "keyframe every 1 s and no B-frames; the music video keeps its own GOPs (1-8 s, "
        "B-frames: the decoder gives a frame out two frames after its packet).",
        "An enter is decided once its track is identified (2 face or 4 body detections at the "
        "analysis rate), a leave once the person has been unseen for 1 s (--leave-after): both "
        "are in the latency, measured from the event's frame (an enter's frame is where the "
        "track started).",
    ]
    return table


def _measure(scratch: Path, video: Path, name: str, model: str, seconds: float) -> dict[str, str]:
    from vstream.cli.events_command import follow
    from vstream.ingest.ingester import ingest
    from vstream.kafka import ChunkProducer, dlq_topic, ensure_topics
    from vstream.kafka.worker import ChunkWorker
    from vstream.store import open_store

    print(f"  {name}: {video.name}, {seconds:g} s real time, model {model} ...", flush=True)
    with TansuBroker(scratch / f"tansu-{name}.log") as broker, \
            open_store(f"chdb://{scratch}/store-{name}") as store:
        topic, events_topic = f"bench.live.{uuid.uuid4().hex[:8]}", f"bench.events.{uuid.uuid4().hex[:8]}"
        ensure_topics(broker.bootstrap, [topic, dlq_topic(topic), events_topic], PARTITIONS)
        worker = ChunkWorker(broker.bootstrap, topic, store, group="bench-live", model=model,
                             events_topic=events_topic)
        errors: list[BaseException] = []
        stats: dict = {}
        received: list[tuple[float, dict]] = []
        stop_worker, stop_follow = threading.Event(), threading.Event()

        def run_worker() -> None:
            try:
                stats["worker"] = worker.run(stop_event=stop_worker)
            except BaseException as ex:  # re-raised on the main thread
                errors.append(ex)

        def run_follower() -> None:
            try:
                for message in follow(broker.bootstrap, events_topic, None, from_beginning=True,
                                      stop=stop_follow):
                    received.append((time.time(), message))
            except BaseException as ex:
                errors.append(ex)

        threads = [threading.Thread(target=run_worker, name="bench-worker"),
                   threading.Thread(target=run_follower, name="bench-follower")]
        for t in threads:
            t.start()
        try:
            if not worker.ready.wait(120):
                raise VStreamError("the benchmark worker did not join its group within 120 s")
            stop = threading.Event()
            timer = threading.Timer(seconds, stop.set)
            timer.start()
            with ChunkProducer(broker.bootstrap, topic) as producer:
                sent = ingest(str(video), name, producer, realtime=True, stop=stop)
            timer.cancel()
            # the worker may lag behind a model slower than real time: wait for it (bounded)
            deadline = time.monotonic() + 600
            while (worker.stats.chunks < sent.chunks and threads[0].is_alive() and not errors
                   and time.monotonic() < deadline):
                time.sleep(0.2)
            processed = worker.stats.chunks
        finally:
            stop_worker.set()
            threads[0].join()
            stored = {str(e.row_id): e for e in store.events_of(name, worker.model_version)
                      if e.kind != "stream_gap"}
            # the follower catches up with what was published (bounded: it may have failed)
            deadline = time.monotonic() + 60
            while (not stored.keys() <= {m.get("row_id") for _, m in received}
                   and threads[1].is_alive() and time.monotonic() < deadline):
                time.sleep(0.2)
            stop_follow.set()
            threads[1].join()
        if errors:
            raise errors[0]
        live = stats["worker"]
    people = [m for _, m in received if m.get("kind") in ("enter", "leave", "count")]
    followed = [at - m["captured_at"] for at, m in received if "captured_at" in m]
    by_kind = " / ".join(
        _p95([at - m["captured_at"] for at, m in received
              if "captured_at" in m and m.get("kind") == kind])
        for kind in ("enter", "leave", "count"))
    on_topic = {m["row_id"] for m in people}
    kinds = [sum(e.kind == k for e in stored.values()) for k in ("enter", "leave", "count")]
    return {
        "events": " / ".join(map(str, kinds)),
        "row": f"{percentiles(live.event_latencies)} ({len(live.event_latencies)})",
        "published": f"{percentiles(live.event_publish_latencies)}",
        "followed": f"{percentiles(followed)} ({len(followed)})",
        "by_kind": by_kind,
        "scene": f"{percentiles(live.latencies)} ({len(live.latencies)})",
        "chunk": percentiles(live.chunk_latencies),
        "agree": "yes" if on_topic == stored.keys()
                 else f"no: {len(on_topic)} on the topic, {len(stored)} stored",
        "chunks": f"{sent.chunks} / {processed}",
    }


def _p95(values: list[float]) -> str:
    return f"{np.percentile(values, 95):.2f}" if values else "-"
