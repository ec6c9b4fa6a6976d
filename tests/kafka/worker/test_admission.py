"""Admission: a stream's first chunk, its next, a replay of a saved state, a producer retry."""

from __future__ import annotations

import pytest

from vstream.chunk import GopChunk
from vstream.errors import ChunkFormatError
from vstream.kafka.worker.admission import (
    Admission, AdmittedChunk, ChunkAdmission, DeadLetter, admission_of,
)
from vstream.kafka.worker.dead_letters import NOT_A_CHUNK
from vstream.kafka.worker.stats import WorkerStats
from vstream.kafka.worker.stream_state import StreamInfo, StreamState
from vstream.metrics import Metrics


def state_at(last_seq: int, partition: int = 0, resume_offset: int = -1) -> StreamState:
    info = StreamInfo("rtsp://cam", "h264", 64, 48, 25)
    return StreamState("cam", None, info, last_seq=last_seq, partition=partition,
                       resume_offset=resume_offset)


@pytest.mark.parametrize(
    ("state", "seq", "partition", "offset", "expected"),
    [
        (None, 0, 0, 0, Admission.FIRST),
        (None, 9, 2, 40, Admission.FIRST),  # a stream may start anywhere (a live source)
        (state_at(4), 5, 0, 10, Admission.NEXT),
        (state_at(4), 7, 0, 10, Admission.NEXT),  # seqs may skip (chunks the ingest lost)
        (state_at(4, resume_offset=10), 4, 0, 9, Admission.REPLAY),
        (state_at(4, resume_offset=10), 2, 0, 3, Admission.REPLAY),
        (state_at(4, resume_offset=10), 4, 0, 10, Admission.DUPLICATE),  # at/after the resume
        (state_at(4, resume_offset=10), 4, 1, 9, Admission.DUPLICATE),  # another partition
        (state_at(4), 4, 0, 3, Admission.DUPLICATE),  # not restored: -1, never a replay
        (state_at(4), 0, 0, 3, Admission.DUPLICATE),
    ],
)
def test_admission_of(state, seq, partition, offset, expected) -> None:
    assert admission_of(state, seq, partition, offset) is expected


@pytest.fixture
def admission(stages):
    made: list[str] = []

    def new_stream(chunk) -> StreamState:
        made.append(chunk.stream_id)
        return StreamState(chunk.stream_id, stages(), StreamInfo.of(chunk))

    admission = ChunkAdmission({}, new_stream, WorkerStats(), Metrics())
    admission.made = made
    return admission


def test_chunks_of_a_batch_are_admitted_in_order_and_move_their_streams_on(
        admission, chunk, message) -> None:
    messages = [message(chunk("a", 0), 0, 0), message(chunk("b", 0), 1, 0),
                message(chunk("a", 1), 0, 1)]
    touched: dict = {}
    items = list(admission.admit(messages, touched))
    assert [type(i) for i in items] == [AdmittedChunk] * 3
    assert [(i.chunk.stream_id, i.chunk.seq) for i in items] == [("a", 0), ("b", 0), ("a", 1)]
    assert admission.made == ["a", "b"]  # a stream's state is made on its first chunk only
    a = admission.streams["a"]
    assert (a.last_seq, a.partition, a.next_offset) == (1, 0, 2)
    assert touched == {"a": a, "b": admission.streams["b"]}
    assert items[0].state is items[2].state is a


def test_a_producer_retry_is_counted_and_skipped(admission, chunk, message) -> None:
    touched: dict = {}
    list(admission.admit([message(chunk("a", 0), 0, 0), message(chunk("a", 1), 0, 1)], touched))
    items = list(admission.admit([message(chunk("a", 1), 0, 2), message(chunk("a", 2), 0, 3)],
                                 touched))
    assert [i.chunk.seq for i in items] == [2]
    assert admission.stats.duplicates == 1 and admission.stats.replayed == 0
    assert admission.metrics.value("vstream_chunks_dropped_total", reason="duplicate") == 1


def test_a_replay_of_a_restored_state_is_skipped_without_a_drop(
        admission, chunk, message, stages) -> None:
    restored = StreamState("a", stages(), StreamInfo.of(chunk("a")), last_seq=3, partition=0,
                           next_offset=4, resume_offset=4)
    admission.streams["a"] = restored
    touched: dict = {}
    items = list(admission.admit([message(chunk("a", s), 0, s) for s in range(5)], touched))
    assert [i.chunk.seq for i in items] == [4]
    assert admission.stats.replayed == 4 and admission.stats.duplicates == 0
    assert admission.metrics.value("vstream_chunks_dropped_total", reason="duplicate") == 0
    assert touched == {"a": restored} and restored.next_offset == 5


def test_a_message_that_is_not_a_chunk_is_a_dead_letter(admission, chunk, message,
                                                        raw_message) -> None:
    junk = raw_message("chunks", 0, 0, b"a", b"not a chunk")
    items = list(admission.admit([junk, raw_message("chunks", 0, 1, b"a", None),
                                  message(chunk("a", 0), 0, 2)], {}))
    assert [type(i) for i in items] == [DeadLetter, DeadLetter, AdmittedChunk]
    assert items[0].message is junk and items[0].kind == NOT_A_CHUNK
    with pytest.raises(ChunkFormatError) as parsed:
        GopChunk.from_bytes(b"not a chunk")
    assert items[0].reason == f"ChunkFormatError: {parsed.value}"
    assert admission.made == ["a"]
