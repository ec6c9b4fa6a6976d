"""Stand-ins for the worker's unit tests: faust messages, chunks and stream stages, no broker.

Test modules get them as fixtures (conftest is not importable under --import-mode=importlib)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import pytest

from vstream.chunk import GopChunk, Packet
from vstream.stream.stages import StageOutput


@dataclass(frozen=True)
class FakeMessage:
    """What the worker reads of a faust Message."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def make_chunk(stream_id: str = "cam", seq: int = 0, **fields) -> GopChunk:
    """A small valid chunk of `stream_id` (two packets, 25 fps)."""
    defaults = dict(codec="h264", extradata=b"\x01", width=64, height=48,
                    time_base=Fraction(1, 90000), frame_rate=Fraction(25), first_frame=2 * seq,
                    packets=(Packet(b"key", 0, 0, 3600, True), Packet(b"p", 3600, 3600, 3600, False)),
                    source="rtsp://cam")
    return GopChunk(stream_id=stream_id, seq=seq, **{**defaults, **fields})


def chunk_message(chunk: GopChunk, partition: int = 0, offset: int = 0,
                  topic: str = "chunks") -> FakeMessage:
    """The message the ingest sends for `chunk`."""
    return FakeMessage(topic, partition, offset, chunk.stream_id.encode(), chunk.to_bytes())


class FakeStages:
    """Stream stages that record what they are given; `decode` fails for the seqs in
    `undecodable`, and `process` closes no scene."""

    def __init__(self, undecodable: frozenset[int] = frozenset()) -> None:
        self.undecodable = undecodable
        self.decoded: list[int] = []
        self.processed: list[int] = []
        self.skipped: list[str] = []
        self.analyzer = None
        self.frames = 0  # frames processed (none: process closes nothing, counts nothing)

    def decode(self, chunk: GopChunk) -> tuple:
        from vstream.errors import DecodeError

        if chunk.seq in self.undecodable:
            raise DecodeError(f"bad bitstream in chunk {chunk.seq}")
        self.decoded.append(chunk.seq)
        return [object()] * len(chunk.packets), []

    def analyse(self, samples):
        return samples

    def process(self, batch, samples, chunk: GopChunk) -> StageOutput:
        self.processed.append(chunk.seq)
        return StageOutput()

    def skip(self, chunk: GopChunk, reason: str) -> None:
        self.skipped.append(reason)

    def snapshot(self) -> bytes:
        return b"stages-" + ",".join(map(str, self.processed)).encode()

    def finish(self) -> StageOutput:
        return StageOutput()


@pytest.fixture
def chunk():
    """`make_chunk`: a small valid chunk."""
    return make_chunk


@pytest.fixture
def message():
    """`chunk_message`: the message of a chunk; `FakeMessage` makes any other."""
    return chunk_message


@pytest.fixture
def raw_message():
    """`FakeMessage(topic, partition, offset, key, value)`."""
    return FakeMessage


@pytest.fixture
def stages():
    """`FakeStages(undecodable=...)`: recording stream stages."""
    return FakeStages
