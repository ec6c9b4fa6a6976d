"""Demux a source into GopChunks without decoding a single frame."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av

from vstream.chunk import GopChunk, Packet
from vstream.errors import VideoOpenError
from vstream.redact import redact_url

# A GOP longer than this many packets is split anyway only by the next keyframe; past this limit
# the source is not something vstream can chunk (intra-refresh streams have no keyframes at all).
MAX_GOP_PACKETS = 3000

@dataclass(frozen=True)
class VideoInfo:
    """What the container says about its first video stream."""

    codec: str
    width: int
    height: int
    time_base: Fraction
    frame_rate: Fraction
    declared_frames: int
    duration_s: float


def open_video(source: str, options: dict[str, str] | None = None) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    """Open `source` (a path or any FFmpeg URL) and return it with its first video stream.

    Raises VideoOpenError with a one-line reason for a missing file, a file FFmpeg cannot read,
    or a container with no video stream.
    """
    is_url = "://" in source
    shown = redact_url(source)
    if not is_url and not os.path.exists(source):
        raise VideoOpenError(f"{shown}: no such file")
    if not is_url and os.path.isdir(source):
        raise VideoOpenError(f"{shown}: is a directory, not a video file")
    try:
        container = av.open(source, options=options or {}, timeout=(10.0, 10.0) if is_url else None)
    except av.FFmpegError as ex:
        if not is_url and _mp4_without_index(source):
            raise VideoOpenError(
                f"{shown}: MP4 file cut short before its index (no moov box): no frame can be "
                "located in it; copy or record it again to the end") from ex
        raise VideoOpenError(f"{shown}: not a readable video ({_ffmpeg_reason(ex)})") from ex
    if not container.streams.video:
        kinds = ", ".join(sorted({s.type for s in container.streams})) or "nothing"
        container.close()
        raise VideoOpenError(f"{shown}: has no video stream (it holds {kinds})")
    stream = container.streams.video[0]
    if stream.codec_context.width <= 0 or stream.codec_context.height <= 0:
        container.close()
        raise VideoOpenError(f"{shown}: video stream has no frame size (corrupt header)")
    return container, stream


def video_info(stream: av.video.stream.VideoStream) -> VideoInfo:
    rate = stream.average_rate or stream.guessed_rate or Fraction(25)
    duration = float(stream.duration * stream.time_base) if stream.duration else 0.0
    return VideoInfo(
        codec=stream.codec_context.name,
        width=stream.codec_context.width,
        height=stream.codec_context.height,
        time_base=Fraction(stream.time_base),
        frame_rate=Fraction(rate),
        declared_frames=int(stream.frames or 0),
        duration_s=duration,
    )


class Chunker:
    """Iterates the GopChunks of one source: each starts at a keyframe, in decode order.

    With `part_s`, each GOP goes in parts instead (`GopChunk.part`): a part is yielded as soon
    as the GOP's packets not yet yielded span `part_s` seconds of video (and at the GOP's end),
    so a live frame waits at most about `part_s` for its chunk, not a whole GOP.

    Packets before the first keyframe cannot be decoded alone and are dropped (counted in
    `dropped_leading`). The container stays open only while iterating, unless `keep_open`: then
    the connection made to read `info` is the one the first iteration reads (a live source is
    connected to once, not twice; the caller must iterate, which closes it). `damaged` is how
    many packets of the chunk yielded last the demuxer flagged corrupt (damaged data, such as an
    MPEG-TS continuity error or a packet cut off by the end of the file).
    """

    def __init__(self, source: str, stream_id: str, *, options: dict[str, str] | None = None,
                 keep_open: bool = False, part_s: float | None = None) -> None:
        if part_s is not None and not part_s > 0:
            raise ValueError(f"part_s must be > 0 seconds (or None for whole GOPs), got {part_s}")
        self.source = source
        self.part_s = part_s
        self.stream_id = stream_id
        self.options = options
        self.dropped_leading = 0
        self.packets_read = 0
        self.damaged = 0
        self._corrupt = False  # whether the packet _demux yielded last was flagged corrupt
        container, stream = open_video(source, options)
        self.info = video_info(stream)
        self._held = (container, stream) if keep_open else None
        if not keep_open:
            container.close()

    def __iter__(self) -> Iterator[GopChunk]:
        held, self._held = self._held, None
        container, stream = held or open_video(self.source, self.options)
        extradata = bytes(stream.codec_context.extradata or b"")
        seq = 0
        first_frame = 0
        gop: list[Packet] = []  # the packets of the GOP (of its part) not yet yielded
        part = 0  # of the GOP, when sending parts
        in_gop = 0  # packets of the GOP, all its parts
        corrupt = 0
        try:
            for packet in self._demux(container, stream):
                if packet.keyframe and in_gop:  # the GOP before it ends
                    if gop:
                        self.damaged = corrupt
                        yield self._chunk(seq, first_frame, gop, extradata, part)
                        seq += 1
                        first_frame += len(gop)
                    gop, corrupt, part, in_gop = [], 0, 0, 0
                if not in_gop and not packet.keyframe:
                    self.dropped_leading += 1
                    continue
                gop.append(packet)
                in_gop += 1
                corrupt += self._corrupt
                if in_gop > MAX_GOP_PACKETS:
                    raise VideoOpenError(
                        f"{redact_url(self.source)}: no keyframe in {MAX_GOP_PACKETS} packets; "
                        "vstream needs periodic keyframes (set the encoder's GOP size)"
                    )
                if self.part_s is not None and self._span_s(gop) >= self.part_s:
                    self.damaged = corrupt
                    yield self._chunk(seq, first_frame, gop, extradata, part)
                    seq += 1
                    first_frame += len(gop)
                    gop, corrupt, part = [], 0, part + 1
            if gop:
                self.damaged = corrupt
                yield self._chunk(seq, first_frame, gop, extradata, part)
        finally:
            container.close()

    def _span_s(self, packets: list[Packet]) -> float:
        """Seconds of video `packets` hold: their durations, or one frame each at the frame
        rate where the container gives no durations."""
        ticks = sum(p.duration for p in packets)
        if ticks > 0:
            return float(ticks * self.info.time_base)
        return len(packets) / float(self.info.frame_rate) if self.info.frame_rate else 0.0

    def _demux(self, container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> Iterator[Packet]:
        try:
            for p in container.demux(stream):
                if p.size == 0:  # the demuxer's end-of-stream flush packet
                    continue
                self.packets_read += 1
                self._corrupt = bool(p.is_corrupt)
                yield Packet(bytes(p), p.pts, p.dts, int(p.duration or 0), bool(p.is_keyframe))
        except av.FFmpegError as ex:
            raise VideoOpenError(
                f"{redact_url(self.source)}: demuxing failed after {self.packets_read} packets "
                f"({_ffmpeg_reason(ex)})"
            ) from ex

    def _chunk(self, seq: int, first_frame: int, gop: list[Packet], extradata: bytes,
               part: int) -> GopChunk:
        return GopChunk(
            stream_id=self.stream_id,
            seq=seq,
            codec=self.info.codec,
            extradata=extradata,
            width=self.info.width,
            height=self.info.height,
            time_base=self.info.time_base,
            frame_rate=self.info.frame_rate,
            first_frame=first_frame,
            packets=tuple(gop),
            source=redact_url(self.source),
            part=part if self.part_s is not None else None,
        )


def _mp4_without_index(path: str) -> bool:
    """Whether `path` is an MP4/MOV file whose top-level boxes hold media data (mdat) but no
    index (moov): a file whose index was to be written at the end, cut short before it."""
    seen = set()
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            offset = 0
            while offset + 8 <= size:
                f.seek(offset)
                head = f.read(16)
                length, kind = int.from_bytes(head[:4], "big"), head[4:8]
                if length == 1 and len(head) == 16:  # 64-bit size follows the type
                    length = int.from_bytes(head[8:16], "big")
                elif length == 0:  # the box runs to the end of the file
                    length = size - offset
                if length < 8 or not kind.isalnum():
                    break
                seen.add(kind)
                offset += length
    except OSError:
        return False
    return b"ftyp" in seen and b"mdat" in seen and b"moov" not in seen


def _ffmpeg_reason(ex: av.FFmpegError) -> str:
    text = getattr(ex, "strerror", None) or str(ex)
    return text.splitlines()[0] if text else type(ex).__name__
