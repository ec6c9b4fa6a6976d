from __future__ import annotations

import struct
from fractions import Fraction

import pytest

from vstream.chunk import MAGIC, VERSION, GopChunk, Packet
from vstream.chunker import Chunker
from vstream.errors import ChunkFormatError

from vstream.weights import test_video_path


def make_chunk(**kw) -> GopChunk:
    fields = dict(
        stream_id="cam-7",
        seq=3,
        codec="h264",
        extradata=b"\x01\x64\x00\x1f",
        width=1920,
        height=1080,
        time_base=Fraction(1, 90000),
        frame_rate=Fraction(30000, 1001),
        first_frame=120,
        packets=(
            Packet(b"\x00\x00\x01\x65key", 3003, 0, 3003, True),
            Packet(b"\x00\x00\x01\x41p", 9009, 3003, 3003, False),
            Packet(b"", None, 6006, 3003, False),
        ),
        capture_time=1_790_000_000.25,
        source="rtsp://***@10.0.0.7/stream1",
        meta={"site": "north gate"},
    )
    fields.update(kw)
    return GopChunk(**fields)


def test_round_trip_keeps_every_field() -> None:
    chunk = make_chunk()
    assert GopChunk.from_bytes(chunk.to_bytes()) == chunk


def test_round_trip_of_real_chunks() -> None:
    chunks = list(Chunker(str(test_video_path()), "test"))
    assert len(chunks) == 100  # the test video has 100 keyframes
    for chunk in chunks:
        assert chunk.packets[0].keyframe
        assert GopChunk.from_bytes(chunk.to_bytes()) == chunk
    assert sum(c.frame_count for c in chunks) == 5301
    assert [c.seq for c in chunks] == list(range(100))
    assert all(b.first_frame == a.first_frame + a.frame_count for a, b in zip(chunks, chunks[1:]))


def _with_version(blob: bytes, version: int) -> bytes:
    import zlib

    body = bytearray(blob[:-4])
    struct.pack_into("<H", body, 4, version)
    return bytes(body) + struct.pack("<I", zlib.crc32(body))


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda b: b"", "too short"),
        (lambda b: b[:20], "checksum"),
        (lambda b: b[:-1], "checksum"),
        (lambda b: b"XXXX" + b[4:], "not a vstream chunk"),
        (lambda b: b[:40] + bytes([b[40] ^ 0xFF]) + b[41:], "checksum"),
        (lambda b: _with_version(b, VERSION + 1), "version 2 is not supported"),
        (lambda b: _with_version(b, 0), "version 0 is not supported"),
    ],
    ids=["empty", "truncated-header", "truncated-tail", "bad-magic", "bit-flip", "newer-version", "version-0"],
)
def test_corrupt_bytes_are_rejected(mangle, message) -> None:
    blob = make_chunk().to_bytes()
    assert blob.startswith(MAGIC)
    with pytest.raises(ChunkFormatError, match=message):
        GopChunk.from_bytes(mangle(blob))


def test_consistent_checksum_but_lying_header_is_rejected() -> None:
    import json
    import zlib

    blob = make_chunk().to_bytes()
    (hlen,) = struct.unpack_from("<I", blob, 6)
    header = json.loads(blob[10 : 10 + hlen])
    header["packets"][0][0] += 1000  # claims more packet bytes than there are
    head = json.dumps(header).encode()
    body = blob[:6] + struct.pack("<I", len(head)) + head + blob[10 + hlen : -4]
    with pytest.raises(ChunkFormatError, match="run past the end"):
        GopChunk.from_bytes(body + struct.pack("<I", zlib.crc32(body)))


@pytest.mark.parametrize(
    ("change", "error"),
    [({"stream_id": ""}, "stream_id"), ({"seq": -1}, "seq"), ({"packets": ()}, "packet")],
)
def test_invalid_chunks_cannot_be_built(change, error) -> None:
    with pytest.raises(ValueError, match=error):
        make_chunk(**change)
