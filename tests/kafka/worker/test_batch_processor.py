"""BatchProcessor: one batch into rows and dead letters; restored, finished and dropped streams.
Fake stages and store: no FFmpeg, no ClickHouse, no broker."""

from __future__ import annotations

import pytest

from vstream.errors import StoreError
from vstream.kafka.worker.admission import Rewind
from vstream.kafka.worker.batch_processor import BatchProcessor
from vstream.kafka.worker.stats import WorkerStats
from vstream.kafka.worker.store_retry import StoreRetry
from vstream.kafka.worker.stream_state import StreamInfo, StreamState
from vstream.metrics import Metrics
from vstream.store.rows import COMPLETE, PARTIAL


class FakeStore:
    """Counts writes; the first `outage` writes of detections fail with StoreError."""

    def __init__(self, outage: int = 0) -> None:
        self.outage = outage
        self.detection_writes = 0
        self.streams: list = []

    def write_detections(self, rows) -> int:
        self.detection_writes += 1
        if self.detection_writes <= self.outage:
            raise StoreError("server down")
        return 0

    def write_events(self, rows) -> int:
        return 0

    def write_stream(self, row) -> None:
        self.streams.append(row)


class FakeSink:
    def __init__(self) -> None:
        self.sent: list[tuple] = []
        self.flushes = 0

    def send(self, message, kind: str, reason: str) -> None:
        self.sent.append((message.offset, kind, reason))

    def flush(self) -> None:
        self.flushes += 1


class FakeSettings:
    """StageSettings' two makers, with recording stages whose seqs 5 and up are undecodable."""

    gallery = None
    model = None

    def __init__(self, stages) -> None:
        self.stages = stages
        self.made: dict[str, object] = {}

    def new(self, stream_id: str, frame_rate: float):
        self.made[stream_id] = self.stages(undecodable=frozenset({5}))
        return self.made[stream_id]

    def restore(self, data: bytes, frame_rate: float):
        return self.stages()


@pytest.fixture
def processor(stages) -> BatchProcessor:
    stats, metrics = WorkerStats(), Metrics()
    return BatchProcessor(FakeStore(), FakeSettings(stages), "v1", dead_letters=FakeSink(),
                          retry=StoreRetry(lambda delay: False, 0.0, stats, metrics),
                          events=None, stats=stats, metrics=metrics)


def test_a_batch_feeds_its_chunks_in_order_and_sends_its_dead_letters(
        processor, chunk, message, raw_message) -> None:
    messages = [message(chunk("a", 0, capture_time=50.0), 0, 0),
                raw_message("chunks", 0, 1, b"a", b"junk"),
                message(chunk("a", 5), 0, 2), message(chunk("a", 6), 0, 3),
                message(chunk("b", 0), 1, 0)]
    touched, captured, rewinds = processor.process(messages, {})
    assert {s.stream_id for s in touched} == {"a", "b"} and rewinds == []
    assert captured == [50.0]
    a = processor.streams["a"]
    assert processor.settings.made["a"].processed == [0, 6]
    assert (a.last_seq, a.next_offset, a.chunks, a.frames, a.skipped) == (6, 4, 2, 4, 1)
    sink = processor.dead_letters
    assert [(offset, kind) for offset, kind, _ in sink.sent] == \
        [(1, "ChunkFormatError"), (2, "DecodeError")]
    assert sink.flushes == 1  # letters acknowledged before the states are saved
    stats = processor.stats
    assert (stats.chunks, stats.frames, stats.dead_letters) == (3, 6, 0)  # the sink counts
    assert stats.last_batch_at is not None
    assert processor.metrics.value("vstream_chunks_processed_total", stream_id="a") == 2


def test_rows_are_retried_through_a_store_outage(processor, chunk, message) -> None:
    processor.store.outage = 2
    processor.process([message(chunk("a", 0), 0, 0)], {})
    assert processor.store.detection_writes == 3 and processor.stats.store_retries == 2


def test_saved_states_are_restored_and_unreadable_ones_start_afresh(
        processor, chunk, message, stages) -> None:
    saved = StreamState("a", stages(), StreamInfo.of(chunk("a")), last_seq=2, partition=0,
                        next_offset=3).snapshot("v1")
    processor.process([message(chunk("a", 2), 0, 2), message(chunk("a", 3), 0, 3),
                       message(chunk("b", 7), 0, 4)], {"a": saved, "b": b"junk"})
    assert processor.stats.restored == 1 and processor.stats.replayed == 1
    assert processor.streams["a"].chunks == 1  # chunk 3 only, on the restored stages
    assert "a" not in processor.settings.made and "b" in processor.settings.made


def test_a_state_older_than_where_its_partition_is_read_asks_to_read_it_again(
        processor, chunk, message, stages) -> None:
    # saved after chunk 2 (offset 2); the group's commit went on to offset 6 (chunks 3-5 unread)
    saved = StreamState("a", stages(), StreamInfo.of(chunk("a")), last_seq=2, partition=0,
                        next_offset=3).snapshot("v1")
    touched, _, rewinds = processor.process(
        [message(chunk("a", 6), 0, 6), message(chunk("b", 0), 1, 0)], {"a": saved})
    assert rewinds == [Rewind(partition=0, offset=3, stream_id="a", after=2, at=6)]
    assert [s.stream_id for s in touched] == ["b"] and processor.streams["a"].chunks == 0
    touched, _, rewinds = processor.process([message(chunk("a", s), 0, s) for s in range(3, 7)],
                                            {})
    assert rewinds == [] and processor.streams["a"].chunks == 4  # 3, 4, 5, 6 in order


def test_finishing_writes_each_streams_row_and_forgets_it(
        processor, chunk, message, stages) -> None:
    processor.process([message(chunk("a", 0), 0, 0), message(chunk("a", 5), 0, 1)], {})
    waiting = StreamState("w", stages(), StreamInfo.of(chunk("w")), frames=8).snapshot("v1")
    processor.finish_all({"w": waiting, "a": b"ignored: a is in memory"}, reason="caught up")
    rows = {row.stream_id: row for row in processor.store.streams}
    assert set(rows) == {"a", "w"} and processor.streams == {}
    assert (rows["a"].status, rows["a"].frames, rows["a"].model_version) == (PARTIAL, 2, "v1")
    assert rows["w"].status == COMPLETE and rows["w"].source == "rtsp://cam"
    assert processor.stats.streams_finished == 2


def test_dropping_partitions_forgets_only_their_streams(processor, chunk, message) -> None:
    processor.process([message(chunk("a", 0), 0, 0), message(chunk("b", 0), 1, 0),
                       message(chunk("c", 0), 2, 0)], {})
    assert processor.drop_partitions({0, 2}) == 2
    assert set(processor.streams) == {"b"}
