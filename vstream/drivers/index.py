"""The file driver (`vstream index`): chunk, decode and segment a stored video in-process, then
store its rows.

The Kafka worker (`vstream.kafka.worker`) runs the same stages (`vstream.stream`) on the same
GopChunks (one core, two drivers).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from vstream.detect.models import DEFAULT_MODEL, learn_threshold, load_frame_model, match_threshold
from vstream.errors import DecodeError, VideoOpenError
from vstream.ingest.chunker import Chunker, VideoInfo
from vstream.media import format_timecode
from vstream.redact import redact_url
from vstream.segment.scenes import Scene
from vstream.stream.stages import (
    DEFAULT_ANALYSIS_FPS, DEFAULT_MAX_SCENE_S, StageOutput, StreamStages, load_gallery, remember_people, row_version,
    write_output,
)
from vstream.track.presence import DEFAULT_LEAVE_AFTER_S, DEFAULT_LEAVE_HIDDEN_S
from vstream.store.rows import COMPLETE, PARTIAL
from vstream.threads import read_ahead

log = logging.getLogger(__name__)

#: the file driver stores its rows in batches, as ClickHouse wants inserts (thousands of rows,
#: or about one a second): written per push, a shots-only index of a 100-s file spent 1.1 s of
#: its 2.6 s in 144 statements of ~8 ms each, two per scene
WRITE_BATCH_ROWS = 10_000
WRITE_INTERVAL_S = 1.0


@dataclass(frozen=True)
class SkippedChunk:
    """A chunk of a file left out of the index: its data is damaged (undecodable)."""

    seq: int
    first_frame: int
    frames: int
    start_s: float
    reason: str


@dataclass(frozen=True)
class Coverage:
    """How much of a file was indexed: `complete`, or `partial` when damaged chunks were
    skipped, when the data ends before the frames its header declares (cut short), or when
    reading stopped part-way on an error."""

    #: frames decoded and indexed
    frames: int
    #: frames the container declares (0: it does not say, as MPEG-TS does not)
    declared: int = 0
    #: frames of decoded chunks that the decoder could not produce
    missing: int = 0
    #: damaged chunks with video after them (each hole is marked by a stream_gap event)
    skipped: tuple[SkippedChunk, ...] = ()
    #: damaged chunks at the end, after the last frame indexed
    tail: tuple[SkippedChunk, ...] = ()
    #: why reading ended before the end of the file ("" when it did not)
    stopped: str = ""

    @property
    def truncated(self) -> bool:
        """The data ends before the frames the header declares. 2% are spared for frames no
        decoder produces alone (open-GOP leading pictures), as before partial files."""
        read = self.frames + self.missing + _frames(self.skipped) + _frames(self.tail)
        return bool(self.declared) and read < self.declared * 0.98

    @property
    def status(self) -> str:
        partial = self.skipped or self.tail or self.stopped or self.truncated
        return PARTIAL if partial else COMPLETE

    @property
    def reason(self) -> str:
        """One line saying what was indexed and what is missing; "" when complete."""
        if self.status == COMPLETE:
            return ""
        done = f"{self.frames} of {self.declared}" if self.declared else f"{self.frames}"
        parts = [f"{done} frames indexed"]
        if self.skipped:
            first, n = self.skipped[0], len(self.skipped)
            parts.append(f"{n} damaged chunk{'s' if n > 1 else ''} skipped "
                         f"({_frames(self.skipped)} frames from "
                         f"{format_timecode(max(0.0, first.start_s))}; {first.reason})")
        if self.stopped:
            parts.append(f"reading stopped early: {self.stopped}")
        elif self.truncated:
            parts.append("the data ends early (file cut short)")
        elif self.tail:
            parts.append(f"the last {_frames(self.tail)} frames are damaged ({self.tail[0].reason})")
        return "; ".join(parts)


def _frames(chunks: tuple[SkippedChunk, ...]) -> int:
    return sum(c.frames for c in chunks)


@dataclass(frozen=True)
class IndexResult:
    stream_id: str
    source: str
    info: VideoInfo
    model_version: str
    scenes: list[Scene]
    frames: int
    seconds: float
    new_rows: int
    frames_analysed: int = 0
    coverage: Coverage | None = None

    @property
    def status(self) -> str:
        return self.coverage.status if self.coverage is not None else COMPLETE

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def stream_id_for(path: str) -> str:
    """Default stream ID of a file: its name without extension (`talk.mp4` → `talk`). Of a URL:
    the last name of its path (`rtsp://cam1/live` → `live`), or its host when it has no path;
    never a part of its userinfo, query or ;params, where credentials are (the ID is stored,
    printed, and a Kafka key and metric label)."""
    if "://" not in path:
        return Path(path).stem or Path(path).name
    scheme = path.split("://", 1)[0]
    try:  # redacted first: the userinfo ends at its last '@', as FFmpeg reads it
        url = urlsplit(redact_url(path))
        name = PurePosixPath(url.path.split(";")[0])
        return name.stem or name.name or url.hostname or scheme
    except ValueError:  # an unclosed IPv6 bracket: FFmpeg will not open it either
        return scheme


def run_stages(source: str, stream_id: str, stages_for: Callable[[Chunker], StreamStages], *,
               on_output: Callable[[StageOutput], None],
               on_frames: Callable[[int], None] | None = None,
               ) -> tuple[Chunker, StreamStages, Coverage]:
    """Chunk one video and run its stages, decoding a few chunks ahead on a thread; hand each
    push's rows to `on_output`.

    A file is indexed as far as it decodes: a chunk FFmpeg cannot decode, or in which the
    demuxer found damaged packets, is skipped (`StreamStages.skip`: a `stream_gap` event marks
    where video resumes), and a read error part-way ends the file there. The Coverage returned
    says what is missing. Raises VideoOpenError, having output nothing, when not one frame
    could be decoded."""
    chunker = Chunker(source, stream_id)
    stages = stages_for(chunker)
    shown = redact_url(source)
    stopped: list[str] = []

    def batches() -> Iterator:
        chunks = iter(chunker)
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                return
            except VideoOpenError as ex:  # a read error part-way: the file ends here
                stopped.append(_after(shown, str(ex)))
                return
            damaged = chunker.damaged  # of this chunk, the one it yielded last
            if damaged:
                yield chunk, None, f"{damaged} damaged packet{'s' * (damaged > 1)}"
                continue
            try:
                decoded = stages.decode(chunk)
            except DecodeError as ex:
                why = getattr(ex.__cause__, "strerror", None) or _after(chunk.source, str(ex))
                yield chunk, None, f"undecodable: {why}"
                continue
            yield chunk, decoded, ""

    def analysed() -> Iterator:
        # decode | frame model | the rest, each on a thread of its own where the model is
        # `pipelined`: the network works on one chunk while FFmpeg decodes the next and this
        # thread tracks the one before
        for chunk, decoded, reason in read_ahead(batches, depth=4, name=f"decode-{stream_id}"):
            if decoded is not None:
                batch, samples = decoded
                decoded = batch, stages.analyse(samples)
            yield chunk, decoded, reason

    skipped: list[SkippedChunk] = []
    pending: list[SkippedChunk] = []  # skipped since the last chunk decoded
    ahead = (read_ahead(analysed, depth=2, name=f"model-{stream_id}") if stages.pipelined
             else analysed())
    # closed also on a failure here: the decode and model threads stop before it is raised
    with closing(ahead):
        for chunk, decoded, reason in ahead:
            if decoded is None:
                skip = SkippedChunk(chunk.seq, chunk.first_frame, len(chunk.packets),
                                    chunk.start_s, reason)
                log.warning("%s: chunk %d (frames %d-%d) skipped: %s", shown, skip.seq,
                            skip.first_frame, skip.first_frame + skip.frames - 1, reason)
                pending.append(skip)
                stages.skip(chunk, f"chunk {chunk.seq} skipped: {reason}")
                continue
            skipped += pending
            pending = []
            batch, samples = decoded
            on_output(stages.process(batch, samples, chunk))
            if on_frames:
                on_frames(len(batch))
    on_output(stages.finish())
    coverage = Coverage(stages.frames, chunker.info.declared_frames,
                        stages.decoder.frames_missing, tuple(skipped), tuple(pending),
                        stopped[0] if stopped else "")
    if stages.frames == 0:
        why = stopped[0] if stopped else f"every chunk damaged: {pending[0].reason}" if pending else ""
        raise VideoOpenError(f"{shown}: no decodable video frames" + (f" ({why})" if why else ""))
    return chunker, stages, coverage


def _after(prefix: str, message: str) -> str:
    """`message` without a leading "`prefix`: " (errors name their file; a reason about the
    same file need not)."""
    return message[len(prefix) + 2:] if prefix and message.startswith(f"{prefix}: ") else message


def segment_video(source: str, stream_id: str, shots: str = "combined", *, threads: int = 0,
                  on_frames: Callable[[int], None] | None = None) -> tuple[Chunker, list[Scene], int]:
    """Shots only: chunk, decode and segment one video; return its chunker, scenes and frame
    count (the benchmarks' path)."""
    scenes: list[Scene] = []
    chunker, stages, _ = run_stages(
        source, stream_id,
        lambda c: StreamStages(stream_id, float(c.info.frame_rate), shots=shots, model=None,
                               gallery=None, threads=threads),
        on_output=lambda out: scenes.extend(a.scene for a in out.scenes), on_frames=on_frames)
    return chunker, scenes, stages.frames


class _BatchedOutput:
    """Pushes' outputs gathered into one `StageOutput` and handed to `write` every
    WRITE_BATCH_ROWS rows or WRITE_INTERVAL_S seconds, and on `flush`."""

    def __init__(self, write: Callable[[StageOutput], None]) -> None:
        self._write = write
        self._pending = StageOutput()
        self._rows = 0
        self._since = time.monotonic()

    def add(self, out: StageOutput) -> None:
        self._pending.frames += out.frames
        self._pending.events += out.events
        self._pending.scenes += out.scenes
        self._pending.gaps += out.gaps
        self._rows += (sum(len(f.detections) for f in out.frames) + len(out.events)
                       + len(out.scenes) + len(out.gaps))
        if self._rows >= WRITE_BATCH_ROWS or time.monotonic() - self._since >= WRITE_INTERVAL_S:
            self.flush()

    def flush(self) -> None:
        pending = self._pending
        self._pending, self._rows, self._since = StageOutput(), 0, time.monotonic()
        if pending.frames or pending.events or pending.scenes or pending.gaps:
            self._write(pending)


def _stages(store, stream_id: str, frame_rate: float, **options) -> StreamStages:
    stages = StreamStages(stream_id, frame_rate, **options)
    remember_people(stages, store)  # a re-index keeps the identities it stored
    return stages


def index_video(
    source: str,
    store,  # vstream.store.ClickHouseWriter
    *,
    stream_id: str | None = None,
    shots: str = "combined",
    threads: int = 0,
    model: str = DEFAULT_MODEL,
    checkpoint: str | None = None,
    precision: str = "auto",
    analysis_fps: float = DEFAULT_ANALYSIS_FPS,
    leave_after_s: float = DEFAULT_LEAVE_AFTER_S,
    leave_hidden_s: float = DEFAULT_LEAVE_HIDDEN_S,
    max_scene_s: float = DEFAULT_MAX_SCENE_S,
    on_frames: Callable[[int], None] | None = None,
) -> IndexResult:
    """Index one video into `store` (idempotent): its `streams` row, `scenes`, and with a
    frame model its `detections`, `tracks`, `events` and the people it shows.

    A truncated or damaged file is indexed as far as it decodes (see `run_stages`) and its
    streams row says `partial`. The rows of a stream stored as partial by this model version
    are deleted before this run writes its first rows: a file indexed in part and again (in
    full, or damaged elsewhere) keeps only the rows of the second run, not a scene cut short
    by the first. A file with no decodable frame raises VideoOpenError and changes nothing."""
    from vstream.store.rows import StreamRow

    stream_id = stream_id or stream_id_for(source)
    # a file is recorded by its absolute path, so the row still finds it from any directory
    recorded = redact_url(source) if "://" in source else str(Path(source).resolve())
    frame_model = load_frame_model(model, checkpoint, precision)
    gallery = load_gallery(store, frame_model, match_threshold(model), learn_threshold(model))
    version = row_version(shots, frame_model, max_scene_s)
    scenes: list[Scene] = []
    new_rows = 0
    stored = store.stream(stream_id)
    stale = stored is not None and stored.model_version == version and stored.status != COMPLETE

    def write(out: StageOutput) -> None:
        nonlocal new_rows, stale
        if stale:  # after remember_people ran
            store.delete_stream_rows(stream_id, version)
            stale = False
        scenes.extend(a.scene for a in out.scenes)
        new_rows += write_output(store, stream_id, version, out, gallery)

    batched = _BatchedOutput(write)
    started = time.perf_counter()
    try:
        chunker, stages, coverage = run_stages(
            source, stream_id,
            lambda c: _stages(store, stream_id, float(c.info.frame_rate), shots=shots,
                              model=frame_model, gallery=gallery, analysis_fps=analysis_fps,
                              leave_after_s=leave_after_s, leave_hidden_s=leave_hidden_s,
                              max_scene_s=max_scene_s,
                              threads=threads),
            on_output=batched.add, on_frames=on_frames)
    except KeyboardInterrupt:
        batched.flush()  # what was analysed is kept; a re-index completes it
        raise
    batched.flush()
    elapsed = time.perf_counter() - started
    info = chunker.info
    store.write_stream(
        StreamRow(
            stream_id=stream_id,
            source=recorded,
            codec=info.codec,
            width=info.width,
            height=info.height,
            fps=float(info.frame_rate),
            frames=stages.frames,
            duration_s=scenes[-1].end_s if scenes else info.duration_s,
            model_version=version,
            status=coverage.status,
            status_reason=coverage.reason,
        )
    )
    analysed = stages.analyzer.frames_analysed if stages.analyzer is not None else 0
    log.info("indexed %s as %s (%s): %d scenes, %d frames (%d analysed), %.1f s",
             redact_url(source), stream_id, coverage.status, len(scenes), stages.frames, analysed,
             elapsed)
    return IndexResult(stream_id, redact_url(source), info, version, scenes, stages.frames,
                       elapsed, new_rows, analysed, coverage)

