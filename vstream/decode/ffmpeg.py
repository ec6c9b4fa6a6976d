"""The CPU decoder: FFmpeg (through PyAV) with its own threads, one GopChunk at a time."""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from vstream.chunk import GopChunk
from vstream.decode.frames import FrameBatch
from vstream.errors import DecodeError

log = logging.getLogger(__name__)


class FfmpegDecoder:
    """Decodes chunks to RGB frames at an analysis size with exact timestamps.

    One decoder follows one stream: the codec context is kept between chunks (creating FFmpeg's
    frame threads per chunk costs more than the decode of a small GOP) and drained at each chunk
    end, because a chunk must yield all of its frames before the next one arrives; a GOP sent in
    parts is drained at its end instead (`GopChunk.part`).
    Frames are numbered from `chunk.first_frame` by presentation order of the chunk's packets, so a
    frame the decoder cannot produce (an open-GOP leading picture) leaves a gap, never a shift.
    """

    def __init__(self, size: tuple[int, int], threads: int = 0, deblock: bool = False,
                 interpolation: str = "AREA",
                 sample_size: Callable[[int, int], tuple[int, int]] | None = None,
                 sample_every: int = 0) -> None:
        if size[0] <= 0 or size[1] <= 0:
            raise ValueError(f"decode size must be positive (width, height), got {size}")
        if (sample_size is None) != (sample_every <= 0):
            raise ValueError("give sample_size and a positive sample_every together, or neither")
        if sample_size is not None and not callable(sample_size):
            raise TypeError("sample_size must be a function (source width, height) -> (width, "
                            f"height), got {type(sample_size).__name__}; for a fixed size use "
                            "lambda w, h: (width, height)")
        # Every `sample_every`-th frame (by stream frame index) is also scaled, from the same
        # decoded picture, to `sample_size(source width, source height)` for the frame-level
        # models (the frame model decides: a fixed input size, or the source's aspect ratio).
        self.sample_size = sample_size
        self.sample_every = sample_every
        self._sample_scaler = VideoReformatter()
        self.size = size
        self.threads = threads
        # H.264/HEVC's in-loop deblocking filter smooths block edges a viewer would see; after
        # the downscale to an analysis size they are invisible, and skipping the filter saves
        # ~20% of decode time. deblock=True decodes bit-exactly like any FFmpeg player.
        self.deblock = deblock
        # Area averaging is the right filter for shrinking a frame 10-40x (no aliasing) and the
        # cheapest swscale filter that is not point sampling. "BILINEAR" is PyAV's default.
        self.interpolation = interpolation
        self._ctx: av.CodecContext | None = None
        self._ctx_key: tuple[str, bytes] | None = None
        # One reformatter for the decoder's life: frame.to_ndarray(width=...) builds a new
        # swscale context per frame, which costs more than decoding a small frame.
        self._scaler = VideoReformatter()
        self._gop: _OpenGop | None = None  # a GOP sent in parts, being decoded
        self.frames_decoded = 0
        self.frames_missing = 0

    def _context(self, chunk: GopChunk) -> av.CodecContext:
        parts = chunk.part is not None
        key = (chunk.codec, chunk.extradata, parts)
        if self._ctx is None or self._ctx_key != key:
            try:
                ctx = av.CodecContext.create(chunk.codec, "r")
            except (av.FFmpegError, ValueError) as ex:
                raise DecodeError(f"no FFmpeg decoder for codec {chunk.codec!r}") from ex
            if chunk.extradata:
                ctx.extradata = chunk.extradata
            ctx.width, ctx.height = chunk.width, chunk.height
            # frame threads hold each frame back a frame per thread: a stream sent in parts
            # for its latency decodes with slice threads, which give every frame out at once
            ctx.thread_type = "SLICE" if parts else "AUTO"
            ctx.thread_count = self.threads
            if not self.deblock:
                ctx.options = {"skip_loop_filter": "all"}
            self._ctx, self._ctx_key = ctx, key
        return self._ctx

    def decode(self, chunk: GopChunk) -> FrameBatch:
        """All frames of `chunk`, in presentation order, resized to `self.size`, RGB uint8."""
        return self.decode_sampled(chunk)[0]

    def decode_sampled(self, chunk: GopChunk) -> tuple[FrameBatch, FrameBatch | None]:
        """`decode(chunk)`, plus the sampled frames at `sample_size` of their source (None when
        not sampling).

        A chunk that is a part of a GOP (`GopChunk.part`) gives the frames the decoder can
        output so far: a frame that a later packet must precede in presentation order (a
        B-frame stream) comes with a later part, and the GOP's last such frames with the next
        GOP's first chunk (or `drain`). A part that continues a GOP this decoder did not decode
        the parts before of (see `resume`) raises DecodeError."""
        frames = self._close_gop() if not chunk.continues else []
        if chunk.continues and (self._gop is None or self._gop.last_seq != chunk.seq - 1):
            raise DecodeError(
                f"{_where(chunk)}: chunk {chunk.seq} continues the GOP of chunk {chunk.seq - 1}, "
                "which this decoder did not decode")
        ctx = self._context(chunk)
        try:
            if chunk.part is None:
                frames += self._whole(ctx, chunk)
            else:
                if chunk.part == 0:
                    self._gop = _OpenGop(chunk.stream_id, chunk.time_base, chunk.first_frame,
                                         (chunk.width, chunk.height))
                frames += self._continue(ctx, chunk.seq, chunk.packets)
        except av.FFmpegError as ex:
            self.reset()  # a decoder that failed mid-stream is not trusted with the next chunk
            reason = getattr(ex, "strerror", None) or str(ex)
            raise DecodeError(
                f"{_where(chunk)}: FFmpeg could not decode chunk {chunk.seq} (frames "
                f"{chunk.first_frame}-{chunk.first_frame + len(chunk.packets) - 1}): {reason}"
            ) from ex
        return self._batches(chunk.stream_id, chunk.time_base, (chunk.width, chunk.height), frames)

    @property
    def open_gop_seq(self) -> int | None:
        """The `seq` of the last part decoded of the GOP sent in parts being decoded (its next
        part continues it); None when there is none."""
        return self._gop.last_seq if self._gop is not None else None

    def resume(self, chunk: GopChunk, through_frame: int) -> None:
        """Decode `chunk`, the parts of a GOP sent before (joined, in order, `part` 0, `seq` the
        last part's), after which the stream's next part follows, as a decoder that decoded them
        would be: a worker that takes over a stream mid-GOP. Of their frames, those after
        `through_frame` (the stream's last frame already given out) come with the next chunk."""
        self.reset()
        self._context(chunk)
        self._gop = _OpenGop(chunk.stream_id, chunk.time_base, chunk.first_frame,
                             (chunk.width, chunk.height))
        try:
            held = self._continue(self._ctx, chunk.seq, chunk.packets)
        except av.FFmpegError as ex:
            self.reset()
            raise DecodeError(f"{_where(chunk)}: FFmpeg could not decode the parts before chunk "
                              f"{chunk.seq + 1}: {getattr(ex, 'strerror', None) or ex}") from ex
        self._gop.held = [(i, f) for i, f in held if i > through_frame]
        self.frames_decoded -= len(held) - len(self._gop.held)  # counted by the old decoder

    def drain(self) -> tuple[FrameBatch, FrameBatch | None] | None:
        """The frames a GOP sent in parts still holds (the end of the stream), None when no such
        GOP is open."""
        if self._gop is None:
            return None
        gop = self._gop
        return self._batches(gop.stream_id, gop.time_base, gop.size, self._close_gop())

    def _whole(self, ctx: av.CodecContext, chunk: GopChunk) -> list[tuple[int, av.VideoFrame]]:
        """A whole GOP: every packet in, the decoder drained, frames numbered by their pts' rank."""
        frames: list[av.VideoFrame] = []
        for p in chunk.packets:
            frames.extend(ctx.decode(_packet(p)))
        frames.extend(ctx.decode(None))
        ctx.flush_buffers()
        order = sorted(p.pts if p.pts is not None else p.dts for p in chunk.packets)
        index_of = {pts: chunk.first_frame + i for i, pts in enumerate(order)}
        numbered = [(index_of.get(f.pts), f) for f in frames]
        kept = [(i, f) for i, f in numbered if i is not None]  # pts no packet carried: dropped
        self._count(chunk, len(order), len(kept))
        return kept

    def _continue(self, ctx: av.CodecContext, seq: int, packets) -> list[tuple[int, av.VideoFrame]]:
        """Packets of the open GOP in: the frames out so far, numbered by the rank of their pts
        among the GOP's packets (final once a frame is out: nothing decoded later precedes it)."""
        gop = self._gop
        out = []
        for p in packets:
            bisect.insort(gop.pts, p.pts if p.pts is not None else p.dts)
            out += gop.number(ctx.decode(_packet(p)))
        gop.last_seq = seq
        gop.given += len(out)
        self.frames_decoded += len(out)
        held, gop.held = gop.held, []
        return held + out

    def _close_gop(self) -> list[tuple[int, av.VideoFrame]]:
        """End the open GOP sent in parts: drain the decoder, return its last frames."""
        gop = self._gop
        if gop is None:
            return []
        try:
            out = gop.held + gop.number(self._ctx.decode(None))
            self._ctx.flush_buffers()
        except av.FFmpegError as ex:  # its last frames are lost; the next GOP decodes afresh
            log.warning("stream %s: the end of the GOP from frame %d could not be decoded: %s",
                        gop.stream_id, gop.first_frame, getattr(ex, "strerror", None) or ex)
            self._ctx, out = None, gop.held
        self._gop = None
        gop.given += len(out) - len(gop.held)
        self.frames_decoded += len(out) - len(gop.held)
        missing = len(gop.pts) - gop.given
        if missing > 0:
            self.frames_missing += missing
            log.warning("stream %s: %d of the %d frames of the GOP from frame %d could not be "
                        "decoded", gop.stream_id, missing, len(gop.pts), gop.first_frame)
        return out

    def _count(self, chunk: GopChunk, expected: int, decoded: int) -> None:
        missing = expected - decoded
        if missing:
            self.frames_missing += missing
            log.warning("%s: %d of the %d frames of chunk %d could not be decoded",
                        _where(chunk), missing, expected, chunk.seq)
        self.frames_decoded += decoded

    def _batches(self, stream_id: str, time_base, source_size: tuple[int, int],
                 frames: list[tuple[int, av.VideoFrame]]) -> tuple[FrameBatch, FrameBatch | None]:
        """Numbered frames as a FrameBatch at the decode size, and the sampled ones at their
        analysis size (None when not sampling)."""
        width, height = self.size
        frames = sorted(frames, key=lambda pair: pair[0])
        images = np.empty((len(frames), height, width, 3), np.uint8)
        samples: list[tuple[int, int, np.ndarray]] = []
        for n, (idx, frame) in enumerate(frames):
            images[n] = self._scaler.reformat(
                frame, width, height, "rgb24", interpolation=self.interpolation).to_ndarray()
            if self.sample_size is not None and idx % self.sample_every == 0:
                sw, sh = self.sample_size(frame.width, frame.height)
                samples.append((idx, frame.pts, self._sample_scaler.reformat(
                    frame, sw, sh, "rgb24", interpolation=self.interpolation).to_ndarray()))
        batch = FrameBatch(stream_id, images, np.array([i for i, _ in frames], np.int64),
                           np.array([f.pts for _, f in frames], np.int64), time_base)
        if self.sample_size is None:
            return batch, None
        if not samples:
            return batch, FrameBatch.empty(stream_id, self.sample_size(*source_size), time_base)
        return batch, FrameBatch(
            stream_id,
            np.stack([image for _, _, image in samples]),
            np.array([idx for idx, _, _ in samples], np.int64),
            np.array([p for _, p, _ in samples], np.int64),
            time_base,
        )

    def reset(self) -> None:
        self._ctx = None
        self._ctx_key = None
        self._gop = None


@dataclass
class _OpenGop:
    """A GOP sent in parts, being decoded: where it starts and what came out of it so far."""

    stream_id: str
    time_base: Fraction
    first_frame: int
    size: tuple[int, int]  # of the source
    last_seq: int = -1
    #: the pts of its packets so far, sorted: a frame's rank among them is its number
    pts: list[int] = field(default_factory=list)
    #: frames decoded (by `resume`) that go out with the next part
    held: list = field(default_factory=list)
    given: int = 0  # frames given out

    def number(self, frames) -> list[tuple[int, av.VideoFrame]]:
        """(stream frame index, frame) of the decoder's output frames; a frame whose pts no
        packet carried is left out (counted missing when the GOP ends)."""
        out = []
        for f in frames:
            rank = bisect.bisect_left(self.pts, f.pts) if f.pts is not None else len(self.pts)
            if rank < len(self.pts) and self.pts[rank] == f.pts:
                out.append((self.first_frame + rank, f))
        return out


def _packet(p) -> av.Packet:
    """An FFmpeg packet of `p` whose buffer FFmpeg owns (a copy). `av.Packet(bytes)` would lend
    it the Python bytes, which a frame thread holding the packet's last reference then frees by
    taking the GIL: when a context that failed is freed, the thread holding the GIL waits for
    that frame thread, and the worker hangs (seen on a damaged chunk)."""
    packet = av.Packet(len(p.data))
    if p.data:
        memoryview(packet)[:] = p.data
    packet.pts, packet.dts = p.pts, p.dts
    return packet


def _where(chunk: GopChunk) -> str:
    """Where a chunk comes from, for messages: its source (a path, or a URL without
    credentials), else its stream ID."""
    return chunk.source or f"stream {chunk.stream_id}"
