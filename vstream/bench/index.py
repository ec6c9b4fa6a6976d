"""End-to-end indexing speed as a ratio of plain decoding, on a 640x360 H.264 video.

`vstream index` with the default settings (combined shots on every frame, the unified network
at the default analysis rate, tracking, people IDs, descriptions, rows written to a fresh chDB
store) against a loop that only decodes every frame with PyAV (frame threads on, frames
converted to RGB at their own size, as a pipeline needs them). Same file, same run.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import av

from vstream.bench.runner import Table
from vstream.stages import DEFAULT_ANALYSIS_FPS


def _decode_only(path: Path) -> tuple[int, float]:
    start = time.perf_counter()
    n = 0
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in c.decode(stream):
            frame.to_ndarray(format="rgb24")
            n += 1
    return n, time.perf_counter() - start


def bench_index(video: Path, warmup: Path) -> Table:
    from vstream.pipeline import index_video
    from vstream.store import open_store

    with tempfile.TemporaryDirectory() as tmp, open_store(f"chdb://{tmp}/store") as store:
        index_video(str(warmup), store, stream_id="warmup")  # model loading, JIT, oneDNN set-up
        _decode_only(warmup)
        frames, decode_s = _decode_only(video)
        start = time.perf_counter()
        result = index_video(str(video), store, stream_id="bench")
        index_s = time.perf_counter() - start
    with av.open(str(video)) as c:
        s = c.streams.video[0]
        size = f"{s.codec_context.width}x{s.codec_context.height}"
    decode_fps, index_fps = frames / decode_s, result.frames / index_s
    table = Table(f"End-to-end index vs plain decode ({size} H.264, {result.frames} frames)",
                  ["pipeline", "frames/s", "ratio to decode"])
    table.rows.append(["PyAV decode only (all frames to RGB)", f"{decode_fps:.0f}", "1.00"])
    table.rows.append([f"vstream index (combined shots, unified network at "
                       f"{DEFAULT_ANALYSIS_FPS:g} fps, tracking, people, chDB)",
                       f"{index_fps:.0f}", f"{index_fps / decode_fps:.2f}"])
    table.notes.append(f"{result.frames_analysed} frames analysed by the network; "
                       f"{len(result.scenes)} scenes. Model loading is outside the timing (a "
                       "warm-up index runs first).")
    return table
