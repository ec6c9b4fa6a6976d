"""End-to-end indexing speed as a ratio of plain decoding, on a 640x360 H.264 video.

`vstream index` (combined shots on every frame; each frame model at the default analysis rate
with tracking, people IDs and descriptions; rows written to a fresh chDB store) against a loop
that only decodes every frame with PyAV (frame threads on, frames converted to RGB at their own
size, as a pipeline needs them). Same file, same run.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import av

from vstream.bench.runner import Table
from vstream.detect.models import DEFAULT_MODEL
from vstream.stream.stages import DEFAULT_ANALYSIS_FPS


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


#: (model, precision) of each timed `vstream index`
RUNS = (("teachers", "auto"), ("unified", "auto"), ("unified", "int8"), ("none", "auto"))


def bench_index(video: Path, warmup: Path, runs: tuple[tuple[str, str], ...] = RUNS) -> Table:
    from vstream.drivers.index import index_video
    from vstream.store import open_store

    with av.open(str(video)) as c:
        s = c.streams.video[0]
        size = f"{s.codec_context.width}x{s.codec_context.height}"
    table = Table(f"End-to-end index vs plain decode ({size} H.264)",
                  ["pipeline", "frames/s", "ratio to decode", "frames analysed"])
    _decode_only(warmup)
    frames, decode_s = _decode_only(video)
    decode_fps = frames / decode_s
    table.rows.append(["PyAV decode only (all frames to RGB)", f"{decode_fps:.0f}", "1.00", "-"])
    for model, precision in runs:
        with tempfile.TemporaryDirectory() as tmp, open_store(f"chdb://{tmp}/store") as store:
            # model loading, numba JIT, oneDNN set-up and an int8 graph's making happen here,
            # outside the timing
            index_video(str(warmup), store, stream_id="warmup", model=model, precision=precision)
            start = time.perf_counter()
            result = index_video(str(video), store, stream_id="bench", model=model, precision=precision)
            index_fps = result.frames / (time.perf_counter() - start)
        label = (f"vstream index --model {model}" + (" (default)" if model == DEFAULT_MODEL else "")
                 + (f" --precision {precision}" if precision != "auto" else "")
                 + ("" if model == "none" else f", analysis at {DEFAULT_ANALYSIS_FPS:g} fps"))
        table.rows.append([label, f"{index_fps:.0f}", f"{index_fps / decode_fps:.2f}",
                           str(result.frames_analysed)])
    table.notes.append(f"{frames} frames. Combined shot detector on every frame in all rows; a "
                       "warm-up index of a short clip runs first for each model.")
    return table
