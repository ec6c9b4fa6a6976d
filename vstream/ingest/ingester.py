"""The ingest driver (`vstream ingest`): demux a source into GopChunks and hand them to a
producer. Never decodes.

Stored files are VOD: chunks go as fast as the producer takes them, or paced to the video's own
clock with `realtime=True`. Live sources (rtsp, udp, tcp, http, ... URLs) stamp each chunk with its
wall-clock capture time and are reopened forever when they drop or stall, with exponential back-off
and jitter; every gap is logged with its length, kept in `IngestStats.gaps` and carried by the
first chunk after it (`GopChunk.gap_s`, `gap_reason`), which the worker turns into a `stream_gap`
event. A reopened stream continues the chunk and frame numbering, so consumers see one stream
with a hole in time. A UDP source is a listener: packets that arrive while it is closed are lost,
so after an attempt that waited for packets it is reopened at once, not after a back-off.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from vstream.backoff import backoff_s
from vstream.chunk import DEFAULT_PART_S, GopChunk
from vstream.errors import VideoOpenError
from vstream.ingest.chunker import Chunker
from vstream.metrics import Metrics
from vstream.redact import redact_url

log = logging.getLogger(__name__)

LIVE_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "udp", "rtp", "tcp", "srt", "http", "https")
#: sources FFmpeg receives by binding a local port and waiting: nobody is called when we reopen
LISTENER_SCHEMES = ("udp",)
#: a live source with no packet for this long is treated as dropped and reopened
STALL_TIMEOUT_S = 10.0
#: characters of a gap's reason kept: it travels in the chunk after the gap and in its event
GAP_REASON_CHARS = 200


class ChunkSink(Protocol):
    def send(self, chunk: GopChunk) -> None: ...


@dataclass(frozen=True)
class Gap:
    """Wall-clock time a live stream delivered no chunks: from the last chunk to the next one."""

    start: float  # Unix seconds
    seconds: float
    reason: str


@dataclass
class IngestStats:
    chunks: int = 0
    frames: int = 0
    bytes: int = 0
    seconds: float = 0.0
    reconnects: int = 0
    gaps: list[Gap] = field(default_factory=list)

    def summary(self) -> str:
        gap_s = sum(g.seconds for g in self.gaps)
        return (f"{self.chunks} chunks, {self.frames} frames, {self.bytes} bytes in "
                f"{self.seconds:.1f} s, {len(self.gaps)} gaps ({gap_s:.1f} s)")


def is_live(source: str) -> bool:
    """True for network URLs (rtsp://, udp://, http://, ...); False for paths and file:// URLs."""
    scheme, sep, _ = source.partition("://")
    return bool(sep) and scheme.lower() in LIVE_SCHEMES


def is_listener(source: str) -> bool:
    """True for URLs FFmpeg opens by listening on a local port (udp://): reopening one costs the
    sender nothing, and while it is closed the sender's packets are dropped."""
    scheme, sep, _ = source.partition("://")
    return bool(sep) and scheme.lower() in LISTENER_SCHEMES


def live_options(source: str, stall_timeout_s: float = STALL_TIMEOUT_S) -> dict[str, str]:
    """FFmpeg options for a live URL: TCP for RTSP, and a read timeout so a stall ends the read."""
    micros = str(int(stall_timeout_s * 1_000_000))
    lowered = source.lower()
    if lowered.startswith(("rtsp://", "rtsps://")):
        return {"rtsp_transport": "tcp", "timeout": micros}
    if lowered.startswith("udp://"):
        # FFmpeg's udp protocol replaces the generic rw_timeout with its own `timeout` (FFmpeg 8:
        # with rw_timeout only PyAV's 10 s interrupt ended a dead read). An overrun of its receive
        # FIFO (the reader fell behind) stays fatal, no overrun_nonfatal: it ends the read with
        # EIO and becomes a recorded gap, instead of datagrams dropped silently inside a chunk.
        return {"timeout": micros}
    return {"rw_timeout": micros}


def ingest(source: str, stream_id: str, producer: ChunkSink, *, realtime: bool = False,
           live: bool | None = None, part_s: float | None = DEFAULT_PART_S,
           options: dict[str, str] | None = None,
           stall_timeout_s: float = STALL_TIMEOUT_S, max_backoff_s: float = 30.0,
           stop: threading.Event | None = None, metrics: Metrics | None = None,
           chunks_of: Callable[[str, str, dict[str, str] | None], Iterable[GopChunk]] | None = None,
           ) -> IngestStats:
    """Send every chunk of `source` to `producer.send`; return counts once the source ends.

    `live` defaults to `is_live(source)`. A live source runs until `stop` is set (or forever);
    a VOD source that fails to open or demux raises VideoOpenError. `options` are extra FFmpeg
    options (for live URLs they are added to `live_options`). `chunks_of(source, stream_id,
    options)` replaces the Chunker (tests). `metrics` counts reconnects and gaps, and shows the
    source (redacted) as `vstream_ingest_source_info`.

    Chunks of a live source, and of a file sent with `realtime`, carry `capture_time`: the wall
    clock at which their first frame was (or, for a paced file, would have been) captured, so
    the worker can measure capture-to-row latency. Those two send each GOP in parts of `part_s`
    seconds of video (`GopChunk.part`; None or 0: whole GOPs); a file sent at full speed always
    goes as whole GOPs.
    """
    live = is_live(source) if live is None else live
    listener = live and is_listener(source)
    stop = stop or threading.Event()
    if live:
        options = {**live_options(source, stall_timeout_s), **(options or {})}
    if chunks_of is None:  # a live source is connected to once per attempt, not twice
        parts = part_s if (live or realtime) and part_s else None

        def chunks_of(src: str, sid: str, opts: dict[str, str] | None) -> Iterable[GopChunk]:
            return Chunker(src, sid, options=opts, keep_open=live, part_s=parts)
    shown = redact_url(source)
    if metrics is not None:  # never the raw URL: it may hold a password
        metrics.source_info.labels(stream_id).info({"source": shown, "live": str(live).lower()})
    stats = IngestStats()
    started = time.monotonic()
    next_seq = next_frame = 0
    attempt = 0
    last_chunk_at: float | None = None  # wall clock of the last chunk sent
    lost: str | None = None  # why the stream dropped, while it is down
    while not stop.is_set():
        opened = time.monotonic()
        first_pts: int | None = None
        try:
            base_seq, base_frame = next_seq, next_frame
            for chunk in chunks_of(source, stream_id, options):
                now = time.time()
                gap: Gap | None = None
                if lost is not None:
                    if last_chunk_at is None:  # waiting for a source to come up is not a gap
                        log.warning("%s: stream %s up after %d attempts", shown, stream_id, attempt)
                    else:
                        gap = Gap(last_chunk_at, now - last_chunk_at, lost)
                        stats.gaps.append(gap)
                        if metrics is not None:
                            metrics.gaps.labels(stream_id).inc()
                        log.warning("%s: stream %s back after a %.1f s gap (%s)", shown,
                                    stream_id, gap.seconds, lost)
                    lost, attempt = None, 0
                if live:  # only a live source has gaps: a file that fails has raised
                    chunk = dataclasses.replace(
                        chunk, seq=base_seq + chunk.seq, first_frame=base_frame + chunk.first_frame,
                        capture_time=now - _duration_s(chunk),
                        gap_s=gap.seconds if gap else None, gap_reason=gap.reason if gap else None)
                elif realtime:
                    if first_pts is None:
                        first_pts = min((p.pts for p in chunk.packets if p.pts is not None), default=0)
                    _pace(opened, chunk, first_pts, stop)
                    # paced like a camera: its frames are "captured" as the clock reaches them
                    chunk = dataclasses.replace(chunk, capture_time=time.time() - _duration_s(chunk))
                producer.send(chunk)
                last_chunk_at = now
                next_seq, next_frame = chunk.seq + 1, chunk.first_frame + chunk.frame_count
                stats.chunks += 1
                stats.frames += chunk.frame_count
                stats.bytes += chunk.nbytes
                if stop.is_set():
                    break
            if not live:
                break
            reason = "source ended"
        except VideoOpenError as ex:
            if not live:
                raise
            reason = str(ex)
        if stop.is_set():
            break
        if lost is None:  # the gap keeps the reason the stream dropped, not each retry's
            lost = gap_reason(reason)
            log.warning("%s: stream %s lost (%s); reopening", shown, stream_id, lost)
        if listener and time.monotonic() - opened >= stall_timeout_s / 2:
            # it waited for packets, so retries are already spaced; a back-off would only lose
            # the first packets (the keyframe) of a sender that returns meanwhile
            delay = 0.0
        else:
            delay = backoff_s(attempt, cap=max_backoff_s)
        attempt += 1
        stats.reconnects += 1
        if metrics is not None:
            metrics.reconnects.labels(stream_id).inc()
        log.info("%s: reopen attempt %d in %.1f s", shown, attempt, delay)
        stop.wait(delay)
    stats.seconds = time.monotonic() - started
    return stats


def gap_reason(text: str) -> str:
    """Why a source was lost, fit for a chunk header and an event: one line, any
    `user:password@` removed, at most GAP_REASON_CHARS characters."""
    line = redact_url(" ".join(text.split()))
    return line if len(line) <= GAP_REASON_CHARS else line[: GAP_REASON_CHARS - 1] + "…"


def _duration_s(chunk: GopChunk) -> float:
    ticks = sum(p.duration for p in chunk.packets)
    if ticks > 0:
        return float(ticks * chunk.time_base)
    return float(chunk.frame_count / chunk.frame_rate) if chunk.frame_rate else 0.0


def _pace(opened: float, chunk: GopChunk, first_pts: int, stop: threading.Event) -> None:
    """Wait until the video clock (pts) reaches the end of `chunk`, when a camera would send it."""
    ends = [p.pts + p.duration for p in chunk.packets if p.pts is not None]
    if ends and chunk.time_base:
        due_s = float((max(ends) - first_pts) * chunk.time_base)
    elif chunk.frame_rate:
        due_s = float((chunk.first_frame + chunk.frame_count) / chunk.frame_rate)
    else:
        return
    delay = opened + due_s - time.monotonic()
    if delay > 0:
        stop.wait(delay)
