"""GopChunk: one group of pictures, decodable alone, and its binary encoding.

A chunk is the unit that travels on Kafka (one message) and through the batch driver. It starts at
a keyframe and carries the codec parameters (extradata) a fresh decoder needs, so any worker can
decode any chunk without state from earlier chunks.

A live stream may instead send each GOP in parts (`part` set), so that a frame travels a
fraction of a second after its capture, not after its GOP (1-10 s on cameras) is complete: part
0 starts at the keyframe, parts 1, 2, ... continue it with consecutive `seq` and cannot be
decoded alone. A worker decodes them with the decoder that decoded the parts before, or, when
it has none (the stream moved to it mid-GOP), from the packets of the GOP's earlier parts that
the stream's saved state keeps (`vstream.stream.open_gop`).

Encoding (little endian), version 1:

    magic    4 bytes  b"VSGC"
    version  u16
    hlen     u32      length of the header
    header   hlen     UTF-8 JSON: stream and codec fields, one entry per packet
    payload  ...      packet bytes, concatenated in decode order
    crc32    u32      of everything before it

JSON keeps the header readable in a Kafka console and easy to extend; the packets, which are
nearly all of the bytes, stay raw. The checksum catches truncation and bit rot before FFmpeg sees
the bytes.

Optional header keys are written only when set (`gap_s` and `gap_reason`, on the first chunk
after a live source came back; `part`, on the parts of a GOP sent in parts) and read with a default, so they need no new version: a reader
looks keys up by name and ignores the ones it does not know, and a chunk without them is byte
for byte what vstream wrote before they existed.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from dataclasses import dataclass, field
from fractions import Fraction

from vstream.errors import ChunkFormatError

MAGIC = b"VSGC"
VERSION = 1
_PREFIX = struct.Struct("<4sHI")
_CRC = struct.Struct("<I")
#: seconds of video per part when a live stream sends its GOPs in parts (`GopChunk.part`): a
#: frame reaches the workers about this long after its capture; 5 Kafka messages a second
DEFAULT_PART_S = 0.2
# A chunk is a GOP, normally well under 1 MB; anything this large is corrupt or hostile.
MAX_CHUNK_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class Packet:
    """One compressed video packet. `pts`/`dts` are in the chunk's time base (pts may be None)."""

    data: bytes
    pts: int | None
    dts: int | None
    duration: int
    keyframe: bool


@dataclass(frozen=True)
class GopChunk:
    """Keyframe-aligned packets of one stream plus what is needed to decode them alone.

    `seq` numbers a stream's chunks from 0; `first_frame` is the index (from the start of the
    stream) of the first frame this chunk decodes to; `capture_time` is the wall-clock time (Unix
    seconds) the chunk's first packet was captured for live sources, None for stored video.
    `gap_s` is set on the first chunk after a live source dropped or stalled and came back: the
    wall-clock seconds from the chunk before to this one, with `gap_reason`, one line saying why
    the source was lost (credentials removed); None on every other chunk. `part` numbers the
    parts of a GOP sent in parts (see the module docstring): 0 for the part holding its
    keyframe, 1, 2, ... for the parts continuing it; None for a whole GOP.
    """

    stream_id: str
    seq: int
    codec: str
    extradata: bytes
    width: int
    height: int
    time_base: Fraction
    frame_rate: Fraction
    first_frame: int
    packets: tuple[Packet, ...]
    capture_time: float | None = None
    source: str = ""
    meta: dict[str, str] = field(default_factory=dict)
    gap_s: float | None = None
    gap_reason: str | None = None
    part: int | None = None

    def __post_init__(self) -> None:
        if not self.stream_id:
            raise ValueError("a chunk needs a non-empty stream_id")
        if self.seq < 0 or self.first_frame < 0:
            raise ValueError(f"seq and first_frame must be >= 0, got {self.seq}, {self.first_frame}")
        if not self.packets:
            raise ValueError("a chunk needs at least one packet")
        if self.gap_s is not None and not (math.isfinite(self.gap_s) and self.gap_s >= 0):
            raise ValueError(f"gap_s must be a finite number of seconds >= 0, got {self.gap_s}")
        if self.gap_reason is not None and self.gap_s is None:
            raise ValueError("gap_reason needs gap_s: set both for the first chunk after a gap")
        if self.part is not None and self.part < 0:
            raise ValueError(f"part must be >= 0, got {self.part}")

    @property
    def continues(self) -> bool:
        """Whether this chunk continues the GOP of chunk `seq - 1` (a part after the first):
        it cannot be decoded without the parts before it."""
        return bool(self.part)

    @property
    def frame_count(self) -> int:
        """Frames this chunk decodes to (one video packet is one frame)."""
        return len(self.packets)

    @property
    def nbytes(self) -> int:
        return sum(len(p.data) for p in self.packets)

    @property
    def start_s(self) -> float:
        """Media time of the chunk's first frame (frame `first_frame`): its smallest pts (dts
        where a packet has none, as the decoder numbers frames) in seconds; the frame rate's
        time where no packet has either."""
        stamps = [p.pts if p.pts is not None else p.dts for p in self.packets]
        known = [t for t in stamps if t is not None]
        if known:
            return float(min(known) * self.time_base)
        return float(self.first_frame / self.frame_rate) if self.frame_rate else 0.0

    def to_bytes(self) -> bytes:
        """Serialise to the versioned binary format described in the module docstring."""
        header = {
            "stream_id": self.stream_id,
            "seq": self.seq,
            "codec": self.codec,
            "extradata": self.extradata.hex(),
            "width": self.width,
            "height": self.height,
            "time_base": [self.time_base.numerator, self.time_base.denominator],
            "frame_rate": [self.frame_rate.numerator, self.frame_rate.denominator],
            "first_frame": self.first_frame,
            "capture_time": self.capture_time,
            "source": self.source,
            "meta": self.meta,
            "packets": [
                [len(p.data), p.pts, p.dts, p.duration, int(p.keyframe)] for p in self.packets
            ],
        }
        if self.gap_s is not None:  # only then: see the module docstring
            header["gap_s"] = self.gap_s
            header["gap_reason"] = self.gap_reason
        if self.part is not None:
            header["part"] = self.part
        head = json.dumps(header, separators=(",", ":")).encode()
        body = b"".join(
            [_PREFIX.pack(MAGIC, VERSION, len(head)), head, *(p.data for p in self.packets)]
        )
        return body + _CRC.pack(zlib.crc32(body))

    @classmethod
    def from_bytes(cls, blob: bytes) -> GopChunk:
        """Parse and validate bytes made by `to_bytes`; raise ChunkFormatError on any defect."""
        blob = bytes(blob)
        if len(blob) < _PREFIX.size + _CRC.size:
            raise ChunkFormatError(f"chunk too short ({len(blob)} bytes)")
        if len(blob) > MAX_CHUNK_BYTES:
            raise ChunkFormatError(f"chunk too large ({len(blob)} bytes > {MAX_CHUNK_BYTES})")
        magic, version, hlen = _PREFIX.unpack_from(blob)
        if magic != MAGIC:
            raise ChunkFormatError(f"not a vstream chunk (magic {magic!r}, expected {MAGIC!r})")
        if version != VERSION:
            raise ChunkFormatError(
                f"chunk format version {version} is not supported (this vstream reads {VERSION})"
            )
        (crc,) = _CRC.unpack_from(blob, len(blob) - _CRC.size)
        if zlib.crc32(blob[: -_CRC.size]) != crc:
            raise ChunkFormatError("chunk checksum mismatch (truncated or corrupted)")
        start = _PREFIX.size
        if start + hlen > len(blob) - _CRC.size:
            raise ChunkFormatError("chunk header length runs past the end")
        try:
            h = json.loads(blob[start : start + hlen])
            offset = start + hlen
            packets = []
            for size, pts, dts, duration, key in h["packets"]:
                if size < 0 or offset + size > len(blob) - _CRC.size:
                    raise ChunkFormatError("packet sizes run past the end of the chunk")
                packets.append(Packet(blob[offset : offset + size], pts, dts, duration, bool(key)))
                offset += size
            if offset != len(blob) - _CRC.size:
                raise ChunkFormatError("bytes left over after the last packet")
            return cls(
                stream_id=h["stream_id"],
                seq=int(h["seq"]),
                codec=h["codec"],
                extradata=bytes.fromhex(h["extradata"]),
                width=int(h["width"]),
                height=int(h["height"]),
                time_base=Fraction(*h["time_base"]),
                frame_rate=Fraction(*h["frame_rate"]),
                first_frame=int(h["first_frame"]),
                packets=tuple(packets),
                capture_time=h["capture_time"],
                source=h["source"],
                meta=dict(h["meta"]),
                gap_s=_optional(h, "gap_s", float),
                gap_reason=_optional(h, "gap_reason", str),
                part=_optional(h, "part", int),
            )
        except ChunkFormatError:
            raise
        except (ValueError, KeyError, TypeError, ZeroDivisionError) as ex:
            raise ChunkFormatError(f"malformed chunk header: {ex}") from ex


def _optional(header: dict, key: str, kind: type) -> float | str | None:
    """`header[key]` checked to be a `kind` (an int counts as a float), None when absent."""
    value = header.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else kind):
        raise TypeError(f"{key} must be a {kind.__name__}, got {value!r}")
    return kind(value)
