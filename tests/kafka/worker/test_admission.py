"""Admission: a stream's first chunk, its next, a replay of a saved state, a producer retry."""

from __future__ import annotations

import pytest

from vstream.chunk import GopChunk
from vstream.errors import ChunkFormatError
from vstream.kafka.worker.admission import (
    Admission, AdmittedChunk, ChunkAdmission, DeadLetter, Rewind, admission_of,
)
from vstream.kafka.worker.dead_letters import NOT_A_CHUNK
from vstream.kafka.worker.stats import WorkerStats
from vstream.kafka.worker.stream_state import StreamInfo, StreamState
from vstream.metrics import Metrics


def state_at(last_seq: int, partition: int = 0, next_offset: int = 0,
             rewound_at_seq: int = -2) -> StreamState:
    info = StreamInfo("rtsp://cam", "h264", 64, 48, 25)
    return StreamState("cam", None, info, last_seq=last_seq, partition=partition,
                       next_offset=next_offset, rewound_at_seq=rewound_at_seq)


@pytest.mark.parametrize(
    ("state", "seq", "partition", "offset", "read_from", "expected"),
    [
        (None, 0, 0, 0, 0, Admission.FIRST),
        (None, 9, 2, 40, 40, Admission.FIRST),  # a stream may start anywhere (a live source)
        (state_at(4, next_offset=10), 5, 0, 10, 10, Admission.NEXT),
        (state_at(4, next_offset=10), 5, 0, 30, 0, Admission.NEXT),  # other streams between
        # seqs skipped: offsets after the stream's last chunk this worker never read may hold
        # them (read again), unless they were looked for there once already
        (state_at(4, next_offset=10), 7, 0, 12, 12, Admission.GAP),
        (state_at(4, next_offset=10, rewound_at_seq=4), 7, 0, 12, 12, Admission.NEXT),
        (state_at(4, next_offset=10, rewound_at_seq=3), 7, 0, 12, 12, Admission.GAP),
        # ... or what was read holds no such chunk: the ingest lost them
        (state_at(4, next_offset=10), 7, 0, 12, 10, Admission.NEXT),
        (state_at(4, next_offset=10), 7, 0, 12, None, Admission.NEXT),
        (state_at(4, partition=1, next_offset=10), 7, 0, 12, 12, Admission.NEXT),
        (state_at(4, next_offset=10), 4, 0, 9, 0, Admission.REPLAY),
        (state_at(4, next_offset=10), 2, 0, 3, 0, Admission.REPLAY),
        (state_at(4, next_offset=10), 4, 0, 10, 0, Admission.DUPLICATE),  # after the last read
        (state_at(4, next_offset=10), 4, 1, 9, 0, Admission.DUPLICATE),  # another partition
        (state_at(4), 0, 0, 3, 0, Admission.DUPLICATE),
    ],
)
def test_admission_of(state, seq, partition, offset, read_from, expected) -> None:
    assert admission_of(state, seq, partition, offset, read_from) is expected


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
    restored = admission.streams["a"] = _after_chunk_3(stages, chunk)
    touched: dict = {}
    items = list(admission.admit([message(chunk("a", s), 0, s) for s in range(5)], touched))
    assert [i.chunk.seq for i in items] == [4]
    assert admission.stats.replayed == 4 and admission.stats.duplicates == 0
    assert admission.metrics.value("vstream_chunks_dropped_total", reason="duplicate") == 0
    assert touched == {"a": restored} and restored.next_offset == 5


def _after_chunk_3(stages, chunk) -> StreamState:
    """Stream a's state as saved after its chunk 3, read at offset 3 of partition 0."""
    return StreamState("a", stages(), StreamInfo.of(chunk("a")), last_seq=3, partition=0,
                       next_offset=4)


def test_a_gap_over_unread_offsets_rewinds_the_partition_once(
        admission, chunk, message, stages) -> None:
    # The state says chunk 3 was the last, read at offset 3; chunk 6 comes at offset 9: chunks
    # 4 and 5 may sit at 4-8 unread (a restored state older than the committed offset).
    state = admission.streams["a"] = _after_chunk_3(stages, chunk)
    touched: dict = {}
    items = list(admission.admit([message(chunk("a", 6), 0, 9), message(chunk("b", 0), 1, 0),
                                  message(chunk("a", 7), 0, 10)], touched))
    # the partition is read again from 4; what follows on it in the batch comes again then
    assert items[0] == Rewind(partition=0, offset=4, stream_id="a", after=3, at=9)
    assert [items[0].left(0, o) for o in (8, 9, 10)] == [False, True, True]
    assert not items[0].left(1, 0)
    assert [(i.chunk.stream_id, i.chunk.seq) for i in items[1:]] == [("b", 0)]
    assert (state.last_seq, state.next_offset) == (3, 4) and "a" not in touched
    # read again: 4 and 5 are there and fed in order
    items = list(admission.admit([message(chunk("a", s), 0, s) for s in range(4, 8)], touched))
    assert [i.chunk.seq for i in items] == [4, 5, 6, 7]
    # a gap over offsets read here is chunks that never reached the topic: the stream goes on
    items = list(admission.admit([message(chunk("a", 9), 0, 11)], touched))
    assert [i.chunk.seq for i in items] == [9] and state.last_seq == 9


def test_a_gap_still_there_after_reading_again_is_let_go(admission, chunk, message,
                                                          stages) -> None:
    state = admission.streams["a"] = _after_chunk_3(stages, chunk)
    touched: dict = {}
    assert list(admission.admit([message(chunk("a", 6), 0, 9)], touched)) == \
        [Rewind(partition=0, offset=4, stream_id="a", after=3, at=9)]
    # read again from 4: other streams' chunks, then the same gap (4 and 5 are not there)
    items = list(admission.admit([message(chunk("b", 0), 0, 4), message(chunk("a", 6), 0, 9)],
                                 touched))
    assert [(i.chunk.stream_id, i.chunk.seq) for i in items] == [("b", 0), ("a", 6)]
    admission.forget({0})
    assert admission.read_from == {}


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
