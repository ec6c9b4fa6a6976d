"""The batch driver: chunk, decode and segment a stored video in-process, then store its rows.

The Kafka worker runs the same stages on the same GopChunks (one core, two drivers).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from vstream import __version__
from vstream.chunker import Chunker, VideoInfo, redact_url
from vstream.decode.ffmpeg import FfmpegDecoder
from vstream.decode.frames import FrameBatch
from vstream.describe.scene_tags import SAMPLE_SIZE, SceneTagger
from vstream.errors import VideoOpenError
from vstream.segment.factory import make_shot_detector
from vstream.segment.scenes import Scene, Segmenter
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

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def model_version(shots: str, tags: bool = True) -> str:
    """What produced a row: vstream's version, the shot detector and the scene tagger."""
    version = f"vstream-{__version__}/shots-{shots}"
    return f"{version}/tags-mobilenetv2" if tags else version


def stream_id_for(path: str) -> str:
    """Default stream ID of a file: its name without extension (`talk.mp4` → `talk`)."""
    return Path(path).stem or Path(path).name


def segment_video(
    source: str,
    stream_id: str,
    shots: str = "combined",
    *,
    threads: int = 0,
    tags: bool = False,
    on_frames: Callable[[int], None] | None = None,
) -> tuple[Chunker, list[Scene], int]:
    """Chunk, decode and segment one video (and tag its scenes when `tags`); return its
    chunker, scenes and frame count."""
    chunker = Chunker(source, stream_id)
    segmenter = Segmenter(make_shot_detector(shots))
    tagger = SceneTagger() if tags else None
    decoder = FfmpegDecoder(
        segmenter.detector.input_size, threads=threads,
        sample_size=SAMPLE_SIZE if tags else None,
        # 5 samples a second: every scene of the 0.4 s minimum length gets at least one
        sample_every=max(1, round(float(chunker.info.frame_rate) / 5)) if tags else 0,
    )

    def batches() -> Iterator[tuple[FrameBatch, FrameBatch | None]]:
        for chunk in chunker:
            yield decoder.decode_sampled(chunk)

    scenes: list[Scene] = []
    frames = 0
    for batch, samples in read_ahead(batches, depth=4, name=f"decode-{stream_id}"):
        if tagger is not None:
            tagger.observe(samples)
        closed = segmenter.push(batch)
        scenes += tagger.tag(closed) if tagger is not None else closed
        frames += len(batch)
        if on_frames:
            on_frames(len(batch))
    closed = segmenter.finish()
    scenes += tagger.tag(closed) + tagger.flush() if tagger is not None else closed
    if frames == 0:
        raise VideoOpenError(f"{redact_url(source)}: no decodable video frames")
    declared = chunker.info.declared_frames
    if declared and frames + decoder.frames_missing < declared * 0.98:
        raise VideoOpenError(
            f"{redact_url(source)}: truncated or damaged: only {frames} of the {declared} "
            "frames its header declares could be read"
        )
    return chunker, scenes, frames


def index_video(
    source: str,
    store,  # vstream.store.ClickHouseWriter
    *,
    stream_id: str | None = None,
    shots: str = "combined",
    threads: int = 0,
    tags: bool = True,
    on_frames: Callable[[int], None] | None = None,
) -> IndexResult:
    """Index one video into `store`: its `streams` row and its `scenes` rows (idempotent)."""
    from vstream.store.rows import SceneRow, StreamRow

    stream_id = stream_id or stream_id_for(source)
    # a file is recorded by its absolute path, so the row still finds it from any directory
    recorded = redact_url(source) if "://" in source else str(Path(source).resolve())
    started = time.perf_counter()
    chunker, scenes, frames = segment_video(source, stream_id, shots, threads=threads, tags=tags,
                                            on_frames=on_frames)
    elapsed = time.perf_counter() - started
    version = model_version(shots, tags)
    info = chunker.info
    store.write_stream(
        StreamRow(
            stream_id=stream_id,
            source=recorded,
            codec=info.codec,
            width=info.width,
            height=info.height,
            fps=float(info.frame_rate),
            frames=frames,
            duration_s=scenes[-1].end_s if scenes else info.duration_s,
            model_version=version,
        )
    )
    rows = [
        SceneRow(
            stream_id=stream_id,
            scene_index=s.index,
            start_s=s.start_s,
            end_s=s.end_s,
            start_frame=s.start_frame,
            end_frame=s.end_frame,
            model_version=version,
            tags=s.tags,
        )
        for s in scenes
    ]
    new_rows = store.write_scenes(rows)
    log.info("indexed %s as %s: %d scenes, %d frames, %.1f s", redact_url(source), stream_id,
             len(scenes), frames, elapsed)
    return IndexResult(stream_id, redact_url(source), info, version, scenes, frames, elapsed, new_rows)
