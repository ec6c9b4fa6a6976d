"""StreamState: its snapshot and restore, the gap it leaves for an undecodable chunk, its status
and capture times; the state table's names."""

from __future__ import annotations

from fractions import Fraction

import pytest

from vstream.kafka.worker.stream_state import (
    StreamInfo, StreamState, state_changelog, state_table,
)
from vstream.store.rows import COMPLETE, PARTIAL
from vstream.stream.stages import SnapshotError


def test_the_table_and_its_changelog_are_named_per_topic() -> None:
    assert state_table("vstream.chunks") == "stream_state-vstream.chunks"
    assert state_changelog("workers", "vstream.chunks") == \
        "workers-stream_state-vstream.chunks-changelog"


def test_info_is_taken_from_a_chunk(chunk) -> None:
    assert StreamInfo.of(chunk("a", 3)) == StreamInfo("rtsp://cam", "h264", 64, 48, Fraction(25))


def test_a_snapshot_restores_the_bookkeeping_and_hands_the_stages_their_own_bytes(
        chunk, stages) -> None:
    state = StreamState("a", stages(), StreamInfo.of(chunk("a")))
    for seq in range(3):
        c = chunk("a", seq, capture_time=1000.0 + seq)
        state.feed(c, *state.decode(c))
    state.skip(chunk("a", 3), "DecodeError:  bad\n bitstream")
    state.last_seq, state.partition, state.next_offset, state.last_end_s = 3, 2, 17, 0.24
    given: list = []

    def make_stages(data: bytes, frame_rate: float):
        given.append((data, frame_rate))
        return stages()

    back = StreamState.restore(state.snapshot("v1"), "v1", make_stages)
    assert given == [(b"stages-0,1,2", 25.0)]
    assert (back.stream_id, back.info, back.last_seq, back.frames, back.chunks) == \
        ("a", state.info, 3, 6, 3)
    assert (back.partition, back.next_offset, back.last_end_s) == (2, 17, 0.24)
    assert (back.skipped, back.skip_reason) == (1, "DecodeError: bad bitstream")
    assert list(back.captures) == list(state.captures) == [(0, 1000.0, 25.0), (2, 1001.0, 25.0),
                                                            (4, 1002.0, 25.0)]
    assert StreamState.partition_of(state.snapshot("v1")) == 2


def test_a_state_of_other_stages_or_bytes_that_are_no_state_are_not_restored(
        chunk, stages) -> None:
    state = StreamState("a", stages(), StreamInfo.of(chunk("a")))
    with pytest.raises(SnapshotError, match="made by v1, this worker makes v2"):
        StreamState.restore(state.snapshot("v1"), "v2", lambda data, rate: stages())
    with pytest.raises(SnapshotError):
        StreamState.restore(b"junk", "v1", lambda data, rate: stages())
    assert StreamState.partition_of(b"junk") == -1


def test_skipped_chunks_make_the_stream_partial_and_say_why(chunk, stages) -> None:
    fake = stages()
    state = StreamState("a", fake, StreamInfo.of(chunk("a")), frames=40)
    assert state.status == (COMPLETE, "")
    state.skip(chunk("a", 5), "DecodeError: bad")
    assert fake.skipped == ["chunk 5 skipped: DecodeError: bad"]
    assert state.status == (PARTIAL, "40 frames indexed; 1 undecodable chunk skipped "
                                     "(DecodeError: bad)")
    state.skip(chunk("a", 6), "DecodeError: worse")
    assert state.status == (PARTIAL, "40 frames indexed; 2 undecodable chunks skipped "
                                     "(DecodeError: bad)")


def test_a_frame_is_dated_by_the_latest_chunk_at_or_before_it(chunk, stages) -> None:
    state = StreamState("a", stages(), StreamInfo.of(chunk("a")))
    assert state.captured_at(0) is None  # no chunk carried a capture time (VOD)
    for seq, first_frame, at in [(0, 0, 100.0), (1, 50, 102.0)]:
        c = chunk("a", seq, first_frame=first_frame, capture_time=at)
        state.feed(c, *state.decode(c))
    assert state.captured_at(0) == pytest.approx(100.04)  # the end of frame 0 at 25 fps
    assert state.captured_at(49) == pytest.approx(102.0)
    assert state.captured_at(74) == pytest.approx(103.0)
