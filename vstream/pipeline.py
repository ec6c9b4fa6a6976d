"""The batch driver: chunk, decode and segment a stored video in-process, then store its rows.

The Kafka worker runs the same stages on the same GopChunks (one core, two drivers).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from vstream.chunker import Chunker, VideoInfo
from vstream.detect.models import DEFAULT_MODEL, load_frame_model, match_threshold
from vstream.errors import VideoOpenError
from vstream.redact import redact_url
from vstream.segment.scenes import Scene
from vstream.stages import (
    DEFAULT_ANALYSIS_FPS, StageOutput, StreamStages, load_gallery, remember_people, row_version,
    write_output,
)
from vstream.threads import read_ahead

log = logging.getLogger(__name__)


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

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def stream_id_for(path: str) -> str:
    """Default stream ID of a file: its name without extension (`talk.mp4` → `talk`)."""
    return Path(path).stem or Path(path).name


def run_stages(source: str, stream_id: str, stages_for: Callable[[Chunker], StreamStages], *,
               on_output: Callable[[StageOutput], None],
               on_frames: Callable[[int], None] | None = None) -> tuple[Chunker, StreamStages]:
    """Chunk one video and run its stages, decoding a few chunks ahead on a thread; hand each
    push's rows to `on_output`. Raises VideoOpenError for a video with no (or too few)
    decodable frames."""
    chunker = Chunker(source, stream_id)
    stages = stages_for(chunker)

    def batches() -> Iterator:
        for chunk in chunker:
            yield stages.decode(chunk)

    for batch, samples in read_ahead(batches, depth=4, name=f"decode-{stream_id}"):
        on_output(stages.process(batch, samples))
        if on_frames:
            on_frames(len(batch))
    on_output(stages.finish())
    frames = stages.frames
    if frames == 0:
        raise VideoOpenError(f"{redact_url(source)}: no decodable video frames")
    declared = chunker.info.declared_frames
    if declared and frames + stages.decoder.frames_missing < declared * 0.98:
        raise VideoOpenError(
            f"{redact_url(source)}: truncated or damaged: only {frames} of the {declared} "
            "frames its header declares could be read"
        )
    return chunker, stages


def segment_video(source: str, stream_id: str, shots: str = "combined", *, threads: int = 0,
                  on_frames: Callable[[int], None] | None = None) -> tuple[Chunker, list[Scene], int]:
    """Shots only: chunk, decode and segment one video; return its chunker, scenes and frame
    count (the benchmarks' path)."""
    scenes: list[Scene] = []
    chunker, stages = run_stages(
        source, stream_id,
        lambda c: StreamStages(stream_id, float(c.info.frame_rate), shots=shots, model=None,
                               gallery=None, threads=threads),
        on_output=lambda out: scenes.extend(a.scene for a in out.scenes), on_frames=on_frames)
    return chunker, scenes, stages.frames


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
    analysis_fps: float = DEFAULT_ANALYSIS_FPS,
    on_frames: Callable[[int], None] | None = None,
) -> IndexResult:
    """Index one video into `store` (idempotent): its `streams` row, `scenes`, and with a
    frame model its `detections`, `tracks`, `events` and the people it shows."""
    from vstream.store.rows import StreamRow

    stream_id = stream_id or stream_id_for(source)
    # a file is recorded by its absolute path, so the row still finds it from any directory
    recorded = redact_url(source) if "://" in source else str(Path(source).resolve())
    frame_model = load_frame_model(model, checkpoint)
    gallery = load_gallery(store, frame_model, match_threshold(model))
    version = row_version(shots, frame_model)
    scenes: list[Scene] = []
    new_rows = 0

    def write(out: StageOutput) -> None:
        nonlocal new_rows
        scenes.extend(a.scene for a in out.scenes)
        new_rows += write_output(store, stream_id, version, out, gallery)

    started = time.perf_counter()
    chunker, stages = run_stages(
        source, stream_id,
        lambda c: _stages(store, stream_id, float(c.info.frame_rate), shots=shots,
                          model=frame_model, gallery=gallery, analysis_fps=analysis_fps,
                          threads=threads),
        on_output=write, on_frames=on_frames)
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
        )
    )
    analysed = stages.analyzer.frames_analysed if stages.analyzer is not None else 0
    log.info("indexed %s as %s: %d scenes, %d frames (%d analysed), %.1f s", redact_url(source),
             stream_id, len(scenes), stages.frames, analysed, elapsed)
    return IndexResult(stream_id, redact_url(source), info, version, scenes, stages.frames,
                       elapsed, new_rows, analysed)

