from __future__ import annotations

import struct
from fractions import Fraction

import pytest

from vstream.chunk import MAGIC, VERSION, GopChunk, Packet
from vstream.errors import ChunkFormatError
from vstream.ingest.chunker import Chunker

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


def test_gap_fields_round_trip() -> None:
    chunk = make_chunk(gap_s=12.75,
                       gap_reason="rtsp://***@10.0.0.7/stream1: demuxing failed (timeout)")
    back = GopChunk.from_bytes(chunk.to_bytes())
    assert back == chunk
    assert (back.gap_s, back.gap_reason) == (12.75, chunk.gap_reason)


def _old_style_bytes(chunk: GopChunk) -> bytes:
    """`chunk` encoded exactly as vstream wrote v1 chunks before the gap fields existed."""
    import json
    import zlib

    header = {
        "stream_id": chunk.stream_id, "seq": chunk.seq, "codec": chunk.codec,
        "extradata": chunk.extradata.hex(), "width": chunk.width, "height": chunk.height,
        "time_base": [chunk.time_base.numerator, chunk.time_base.denominator],
        "frame_rate": [chunk.frame_rate.numerator, chunk.frame_rate.denominator],
        "first_frame": chunk.first_frame, "capture_time": chunk.capture_time,
        "source": chunk.source, "meta": chunk.meta,
        "packets": [[len(p.data), p.pts, p.dts, p.duration, int(p.keyframe)]
                    for p in chunk.packets],
    }
    head = json.dumps(header, separators=(",", ":")).encode()
    packets = b"".join(p.data for p in chunk.packets)
    body = struct.pack("<4sHI", MAGIC, 1, len(head)) + head + packets
    return body + struct.pack("<I", zlib.crc32(body))


def test_chunk_without_gap_fields_is_the_old_v1_encoding() -> None:
    chunk = make_chunk()
    old = _old_style_bytes(chunk)
    back = GopChunk.from_bytes(old)
    assert back == chunk and back.gap_s is None and back.gap_reason is None
    # A chunk with no gap is written byte for byte as before, so older readers see nothing new.
    assert chunk.to_bytes() == old


@pytest.mark.parametrize(
    ("gap", "message"),
    [
        ({"gap_s": -1.0, "gap_reason": "x"}, "gap_s must be"),
        ({"gap_s": "12", "gap_reason": "x"}, "gap_s must be a float"),
        ({"gap_s": True, "gap_reason": "x"}, "gap_s must be a float"),
        ({"gap_s": 1.0, "gap_reason": 7}, "gap_reason must be a str"),
        ({"gap_reason": "lost"}, "gap_reason needs gap_s"),
    ],
    ids=["negative", "string-seconds", "bool-seconds", "number-reason", "reason-alone"],
)
def test_malformed_gap_fields_are_rejected(gap, message) -> None:
    import json
    import zlib

    blob = make_chunk().to_bytes()
    (hlen,) = struct.unpack_from("<I", blob, 6)
    header = json.loads(blob[10 : 10 + hlen]) | gap
    head = json.dumps(header).encode()
    body = blob[:6] + struct.pack("<I", len(head)) + head + blob[10 + hlen : -4]
    with pytest.raises(ChunkFormatError, match=message):
        GopChunk.from_bytes(body + struct.pack("<I", zlib.crc32(body)))


def test_part_round_trips_and_is_absent_from_whole_gops() -> None:
    part = make_chunk(part=3, packets=make_chunk().packets[1:])  # no keyframe: it continues
    back = GopChunk.from_bytes(part.to_bytes())
    assert back == part and back.part == 3 and back.continues
    assert not make_chunk(part=0).continues and not make_chunk().continues
    assert b'"part"' not in make_chunk().to_bytes()  # a whole GOP is written as before


@pytest.mark.parametrize(("part", "message"), [(-1, "part must be >= 0"), ("2", "part must be a int"),
                                               (True, "part must be a int")])
def test_malformed_part_is_rejected(part, message) -> None:
    import json
    import zlib

    blob = make_chunk().to_bytes()
    (hlen,) = struct.unpack_from("<I", blob, 6)
    head = json.dumps(json.loads(blob[10 : 10 + hlen]) | {"part": part}).encode()
    body = blob[:6] + struct.pack("<I", len(head)) + head + blob[10 + hlen : -4]
    with pytest.raises(ChunkFormatError, match=message):
        GopChunk.from_bytes(body + struct.pack("<I", zlib.crc32(body)))


def test_start_s_is_the_media_time_of_the_first_frame() -> None:
    # packets in decode order: the smallest pts (3003), not the first packet's, starts the chunk
    chunk = make_chunk(packets=(Packet(b"k", 6006, 0, 3003, True),
                                Packet(b"b", 3003, 3003, 3003, False)))
    assert chunk.start_s == pytest.approx(3003 / 90000)
