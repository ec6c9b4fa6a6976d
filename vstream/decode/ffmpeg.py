"""The CPU decoder: FFmpeg (through PyAV) with its own threads, one GopChunk at a time."""

from __future__ import annotations

import logging
from collections.abc import Callable

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
    end, because a chunk must yield all of its frames before the next one arrives.
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
        self.frames_decoded = 0
        self.frames_missing = 0

    def _context(self, chunk: GopChunk) -> av.CodecContext:
        key = (chunk.codec, chunk.extradata)
        if self._ctx is None or self._ctx_key != key:
            try:
                ctx = av.CodecContext.create(chunk.codec, "r")
            except (av.FFmpegError, ValueError) as ex:
                raise DecodeError(f"no FFmpeg decoder for codec {chunk.codec!r}") from ex
            if chunk.extradata:
                ctx.extradata = chunk.extradata
            ctx.width, ctx.height = chunk.width, chunk.height
            ctx.thread_type = "AUTO"
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
        not sampling)."""
        ctx = self._context(chunk)
        width, height = self.size
        frames: list[av.VideoFrame] = []
        try:
            for p in chunk.packets:
                packet = av.Packet(p.data)
                packet.pts, packet.dts = p.pts, p.dts
                frames.extend(ctx.decode(packet))
            frames.extend(ctx.decode(None))
        except av.FFmpegError as ex:
            self._ctx = None  # a decoder that failed mid-stream is not trusted with the next chunk
            reason = getattr(ex, "strerror", None) or str(ex)
            raise DecodeError(
                f"{_where(chunk)}: FFmpeg could not decode chunk {chunk.seq} (frames "
                f"{chunk.first_frame}-{chunk.first_frame + len(chunk.packets) - 1}): {reason}"
            ) from ex
        ctx.flush_buffers()

        order = sorted(p.pts if p.pts is not None else p.dts for p in chunk.packets)
        index_of = {pts: chunk.first_frame + i for i, pts in enumerate(order)}
        images = np.empty((len(frames), height, width, 3), np.uint8)
        pts = np.empty(len(frames), np.int64)
        frame_index = np.empty(len(frames), np.int64)
        samples: list[tuple[int, int, np.ndarray]] = []
        n = 0
        for frame in sorted(frames, key=lambda f: f.pts if f.pts is not None else -1):
            idx = index_of.get(frame.pts)
            if idx is None:  # a frame whose pts no packet of this chunk carried
                continue
            images[n] = self._scaler.reformat(
                frame, width, height, "rgb24", interpolation=self.interpolation).to_ndarray()
            pts[n], frame_index[n] = frame.pts, idx
            n += 1
            if self.sample_size is not None and idx % self.sample_every == 0:
                sw, sh = self.sample_size(frame.width, frame.height)
                samples.append((idx, frame.pts, self._sample_scaler.reformat(
                    frame, sw, sh, "rgb24", interpolation=self.interpolation).to_ndarray()))
        missing = len(order) - n
        if missing:
            self.frames_missing += missing
            log.warning("%s: %d of the %d frames of chunk %d could not be decoded",
                        _where(chunk), missing, len(order), chunk.seq)
        self.frames_decoded += n
        batch = FrameBatch(chunk.stream_id, images[:n], frame_index[:n], pts[:n], chunk.time_base)
        if self.sample_size is None:
            return batch, None
        if not samples:
            return batch, FrameBatch.empty(chunk.stream_id, self.sample_size(chunk.width, chunk.height),
                                           chunk.time_base)
        return batch, FrameBatch(
            chunk.stream_id,
            np.stack([image for _, _, image in samples]),
            np.array([idx for idx, _, _ in samples], np.int64),
            np.array([p for _, p, _ in samples], np.int64),
            chunk.time_base,
        )

    def reset(self) -> None:
        self._ctx = None
        self._ctx_key = None


def _where(chunk: GopChunk) -> str:
    """Where a chunk comes from, for messages: its source (a path, or a URL without
    credentials), else its stream ID."""
    return chunk.source or f"stream {chunk.stream_id}"
