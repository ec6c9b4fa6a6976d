"""The Kafka driver: consume GopChunks from the chunk topic, run the batch driver's stages, store rows.

    from vstream.store import open_store
    from vstream.worker import ChunkWorker
    with open_store("chdb:///tmp/vs") as store:
        worker = ChunkWorker("127.0.0.1:9092", "vstream.chunks", store)
        stats = worker.run(max_idle_s=10)      # until 10 s without messages, then finish streams

Same stages as `vstream.pipeline.segment_video` (one core, two drivers): per stream an
FfmpegDecoder (`decode_sampled`), a Segmenter and, with `tags`, a SceneTagger, fed chunk by chunk
in the stream's order; closed scenes become the same SceneRows (same row_id, same model_version)
that `index_video` writes, so a file indexed in-process and the same file streamed through Kafka
give the same rows.

Delivery: one consumer group (`group`), offsets committed by hand only after the rows of the
polled chunks are written (and their dead letters acknowledged), so a crash replays chunks rather
than losing them; replayed rows are skipped by the store (idempotent by row_id). A message that is
not a chunk (ChunkFormatError) or that FFmpeg cannot decode (DecodeError) goes to `<topic>.dlq`
with headers `reason`, `source_topic`, `source_partition`, `source_offset`; the worker carries on.
A chunk whose seq is not above the last seq seen for its stream is a producer retry: skipped.

Limits of this first slice: per-stream state (decoder, open scene) lives in memory only; a worker
restarted mid-stream resumes at the last committed offset with a fresh state, so the scene open at
the restart is cut there. Streams never end on Kafka: `finish_stream` closes one (last scene and
`streams` row); `run(max_idle_s=...)` finishes every stream when the topic stays idle.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from vstream.chunk import GopChunk
from vstream.chunker import redact_url
from vstream.decode.ffmpeg import FfmpegDecoder
from vstream.describe.scene_tags import SAMPLE_SIZE, SceneTagger
from vstream.errors import ChunkFormatError, DecodeError
from vstream.kafka.errors import BrokerUnavailableError
from vstream.kafka.topics import dlq_topic
from vstream.pipeline import model_version
from vstream.segment.factory import make_shot_detector
from vstream.segment.scenes import Scene, Segmenter

log = logging.getLogger(__name__)

DEFAULT_GROUP = "vstream-workers"


@dataclass
class StreamState:
    """What the worker keeps for one stream between its chunks (built on the stream's first chunk)."""

    stream_id: str
    segmenter: Segmenter
    tagger: SceneTagger | None
    decoder: FfmpegDecoder
    first: GopChunk  # codec, size, rate and source of the stream, for its `streams` row
    last_seq: int = -1
    frames: int = 0
    chunks: int = 0
    last_end_s: float = 0.0

    @classmethod
    def start(cls, chunk: GopChunk, shots: str, tags: bool) -> StreamState:
        # Built exactly as segment_video builds its stages.
        segmenter = Segmenter(make_shot_detector(shots))
        decoder = FfmpegDecoder(
            segmenter.detector.input_size,
            sample_size=SAMPLE_SIZE if tags else None,
            sample_every=max(1, round(float(chunk.frame_rate) / 5)) if tags else 0,
        )
        return cls(chunk.stream_id, segmenter, SceneTagger() if tags else None, decoder, chunk)

    def push(self, chunk: GopChunk) -> list[Scene]:
        """Decode one chunk and feed it on; return the scenes it closed (tagged when tagging).

        Raises DecodeError (the stream's state is unchanged but for the decoder's reset)."""
        batch, samples = self.decoder.decode_sampled(chunk)
        if self.tagger is not None:
            self.tagger.observe(samples)
        closed = self.segmenter.push(batch)
        self.frames += len(batch)
        self.chunks += 1
        return self.tagger.tag(closed) if self.tagger is not None else closed

    def finish(self) -> list[Scene]:
        closed = self.segmenter.finish()
        return self.tagger.tag(closed) + self.tagger.flush() if self.tagger is not None else closed


@dataclass
class WorkerStats:
    chunks: int = 0  # chunks decoded and segmented
    frames: int = 0
    duplicates: int = 0  # chunks skipped as producer retries (seq not above the last seen)
    dead_letters: int = 0  # messages sent to the DLQ
    rows_written: int = 0  # new scene rows (replays that the store already had are not counted)
    streams_finished: int = 0
    commits: int = 0
    dlq_reasons: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.chunks} chunks, {self.frames} frames, {self.duplicates} duplicates skipped, "
                f"{self.dead_letters} to the DLQ, {self.rows_written} scene rows written, "
                f"{self.streams_finished} streams finished, {self.commits} offset commits")


class ChunkWorker:
    """Consumes the chunk topic in a consumer group and stores each stream's scenes.

    `store` is a `vstream.store.ClickHouseWriter` (see `open_store`). `shots` and `tags` pick the
    stages as `vstream index` does, and with them the rows' model_version.
    """

    def __init__(self, bootstrap: str, topic: str, store, *, group: str = DEFAULT_GROUP,
                 shots: str = "combined", tags: bool = True, poll_timeout_s: float = 0.5,
                 max_poll_records: int = 50) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.dlq = dlq_topic(topic)
        self.store = store
        self.group = group
        self.shots = shots
        self.tags = tags
        self.model_version = model_version(shots, tags)
        self.poll_timeout_s = poll_timeout_s
        self.max_poll_records = max_poll_records
        self.streams: dict[str, StreamState] = {}
        self.stats = WorkerStats()
        self._consumer = None
        self._producer = None

    # -- Kafka clients -------------------------------------------------------------------------

    def _connect(self) -> None:
        from kafka import KafkaConsumer, KafkaProducer
        from kafka.errors import NoBrokersAvailable

        try:
            self._consumer = KafkaConsumer(
                self.topic, bootstrap_servers=self.bootstrap, group_id=self.group,
                client_id="vstream-worker", enable_auto_commit=False,
                auto_offset_reset="earliest", max_poll_records=self.max_poll_records,
                # one GOP is well under 1 MB, but allow big ones
                max_partition_fetch_bytes=16 * 1024 * 1024,
            )
            self._producer = KafkaProducer(
                bootstrap_servers=self.bootstrap, client_id="vstream-worker-dlq", acks="all",
                max_in_flight_requests_per_connection=1, max_request_size=16 * 1024 * 1024)
        except NoBrokersAvailable as ex:
            self._close_clients()
            raise BrokerUnavailableError(
                f"no Kafka broker answers at {self.bootstrap} (start one, or point --kafka / "
                "VSTREAM_KAFKA at it)") from ex

    def _close_clients(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=10)  # flushes the DLQ
            self._producer = None
        if self._consumer is not None:
            self._consumer.close(autocommit=False)  # only what run() committed counts
            self._consumer = None

    # -- the loop ------------------------------------------------------------------------------

    def run(self, stop_event: threading.Event | None = None,
            max_idle_s: float | None = None) -> WorkerStats:
        """Consume until `stop_event` is set, or until `max_idle_s` pass with no message.

        Stopped by `stop_event`: commits what was written and returns; open streams are not
        finished (their open scenes are lost; see the module docstring). Idle for `max_idle_s`
        (counted from when the group gave this worker its partitions): finishes every stream
        (last scenes and `streams` rows), commits, returns. Returns the running stats.
        """
        stop_event = stop_event or threading.Event()
        self._connect()
        idle_since: float | None = None
        try:
            while not stop_event.is_set():
                polled = self._consumer.poll(timeout_ms=int(self.poll_timeout_s * 1000))
                if polled:
                    idle_since = None
                    self._handle(polled)
                    continue
                if not self._consumer.assignment():  # still joining the group
                    continue
                now = time.monotonic()
                idle_since = idle_since or now
                if max_idle_s is not None and now - idle_since >= max_idle_s:
                    log.info("no message for %.1f s: finishing %d streams", max_idle_s,
                             len(self.streams))
                    for stream_id in list(self.streams):
                        self.finish_stream(stream_id)
                    break
        finally:
            self._close_clients()
        log.info("worker stops: %s", self.stats.summary())
        return self.stats

    def _handle(self, polled: dict) -> None:
        """Process one poll batch, write its rows, then commit its offsets."""
        from kafka.structs import OffsetAndMetadata

        rows = []
        offsets = {}
        for tp, records in polled.items():
            for record in records:
                rows += self._process(record)
                offsets[tp] = record.offset + 1
        if rows:
            self.stats.rows_written += self.store.write_scenes(rows)
        self._producer.flush()  # dead letters acknowledged before their offsets are committed
        self._consumer.commit({tp: OffsetAndMetadata(off, "", -1) for tp, off in offsets.items()})
        self.stats.commits += 1
        log.debug("committed %s", {f"{tp.topic}/{tp.partition}": o for tp, o in offsets.items()})

    def _process(self, record) -> list:
        """One message: the SceneRows it closed (none for a duplicate or a dead letter)."""
        try:
            chunk = GopChunk.from_bytes(record.value or b"")
        except ChunkFormatError as ex:
            self._dead_letter(record, f"ChunkFormatError: {ex}")
            return []
        state = self.streams.get(chunk.stream_id)
        if state is not None and chunk.seq <= state.last_seq:
            self.stats.duplicates += 1
            log.info("%s: chunk %d again (last seen %d): a producer retry, skipped",
                     chunk.stream_id, chunk.seq, state.last_seq)
            return []
        if state is None:
            state = self.streams[chunk.stream_id] = StreamState.start(chunk, self.shots, self.tags)
            log.info("stream %s: first chunk (seq %d, %s %dx%d)", chunk.stream_id, chunk.seq,
                     chunk.codec, chunk.width, chunk.height)
        state.last_seq = chunk.seq
        try:
            scenes = state.push(chunk)
        except DecodeError as ex:
            self._dead_letter(record, f"DecodeError: {ex}")
            return []
        self.stats.chunks += 1
        self.stats.frames += len(chunk.packets)
        return self._rows(chunk.stream_id, scenes)

    def _rows(self, stream_id: str, scenes: list[Scene]) -> list:
        from vstream.store.rows import SceneRow

        state = self.streams.get(stream_id)
        if state is not None and scenes:
            state.last_end_s = scenes[-1].end_s
        return [SceneRow(stream_id=stream_id, scene_index=s.index, start_s=s.start_s,
                         end_s=s.end_s, start_frame=s.start_frame, end_frame=s.end_frame,
                         model_version=self.model_version, tags=s.tags) for s in scenes]

    def _dead_letter(self, record, reason: str) -> None:
        reason = " ".join(reason.split())[:500]  # one line
        self.stats.dead_letters += 1
        self.stats.dlq_reasons.append(reason)
        log.warning("%s/%d@%d to %s: %s", record.topic, record.partition, record.offset, self.dlq,
                    reason)
        headers = [("reason", reason.encode()), ("source_topic", record.topic.encode()),
                   ("source_partition", str(record.partition).encode()),
                   ("source_offset", str(record.offset).encode())]
        self._producer.send(self.dlq, key=record.key, value=record.value or b"", headers=headers)

    def finish_stream(self, stream_id: str) -> int:
        """Close `stream_id`: write its last scenes and its `streams` row; return new scene rows."""
        from vstream.store.rows import StreamRow

        state = self.streams.pop(stream_id)
        rows = self._rows(stream_id, state.finish())
        new = self.store.write_scenes(rows) if rows else 0
        self.stats.rows_written += new
        first = state.first
        self.store.write_stream(StreamRow(
            stream_id=stream_id, source=redact_url(first.source), codec=first.codec,
            width=first.width, height=first.height, fps=float(first.frame_rate),
            frames=state.frames, duration_s=rows[-1].end_s if rows else state.last_end_s,
            model_version=self.model_version))
        self.stats.streams_finished += 1
        log.info("stream %s finished: %d chunks, %d frames", stream_id, state.chunks, state.frames)
        return new
