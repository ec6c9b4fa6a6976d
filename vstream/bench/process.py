"""The whole process, shots only: `vstream index --model none` against PySceneDetect.

What a user waits for is the process: interpreter start, imports, numba's cache, the store, the
decode and the detector. Each run is a fresh interpreter on the same file: vstream indexes into a
fresh chDB store (`--model none`: shots only), once with the default combined detector (which
runs TransNetV2 through onnxruntime if a candidate needs it) and once with `--shots fast`;
PySceneDetect runs `scenedetect.detect(path, ContentDetector())` with its defaults. Runs
alternate (PySceneDetect, vstream combined, vstream fast, PySceneDetect, ...) so no side gets
the quieter moments of a shared machine; each side's median of `runs` is reported, wall time and
CPU time (user + system of the child, every thread).
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import numpy as np

from vstream.bench.runner import BENCH_SIZE, Table, _need
from vstream.bench.transitions import write_video
from vstream.weights import test_video_path

#: the long benchmark file: 100 s at 25 fps
LONG_FRAMES = 2500
#: the start-up file: 1 s of the test video at its own 160x90
SHORT_FRAMES = 25

_PYSCENEDETECT = ("import sys, scenedetect; "
                  "scenedetect.detect(sys.argv[1], scenedetect.ContentDetector(), show_progress=False)")


def _test_video_frames(n: int) -> Iterator[np.ndarray]:
    with av.open(str(test_video_path())) as c:
        for _, frame in zip(range(n), c.decode(video=0)):
            yield frame.to_ndarray(format="rgb24")


def make_process_videos(work_dir: Path) -> dict[str, Path]:
    """(Once; cached in work_dir) the first second of the test video as 160x90 H.264, and its
    first 100 s upscaled (bicubic) to 640x360, 25 fps H.264 (crf 20)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    videos = {"1 s, 160x90": work_dir / "process-1s-160x90.mp4",
              f"100 s, {BENCH_SIZE[0]}x{BENCH_SIZE[1]}": work_dir / f"process-100s-{BENCH_SIZE[0]}x{BENCH_SIZE[1]}.mp4"}
    short, long = videos.values()
    if not short.exists():
        write_video(short, _test_video_frames(SHORT_FRAMES), (160, 90))
    if not long.exists():
        write_video(long, _test_video_frames(LONG_FRAMES), BENCH_SIZE)
    return videos


#: the children's environment: as a user's, Python caches compiled modules (a sandbox's
#: PYTHONDONTWRITEBYTECODE would recompile vstream's ~80 modules, 0.08 s, at every start; the
#: installed PySceneDetect has its .pyc files from pip either way)
_CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _timed_child(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, all threads) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=_CHILD_ENV)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _vstream_index(shots: str) -> Callable[[Path], tuple[float, float]]:
    def run(path: Path) -> tuple[float, float]:
        with tempfile.TemporaryDirectory() as tmp:
            return _timed_child([sys.executable, "-m", "vstream", "index", str(path), "--model",
                                 "none", "--shots", shots, "--no-progress", "--quiet",
                                 "--store", f"chdb://{tmp}/store"])

    return run


def _pyscenedetect(path: Path) -> tuple[float, float]:
    return _timed_child([sys.executable, "-c", _PYSCENEDETECT, str(path)])


def bench_process(work_dir: Path, runs: int = 5) -> Table:
    _need("scenedetect", "scenedetect")
    videos = make_process_videos(work_dir)
    table = Table("Whole process, shots only: `vstream index --model none` vs PySceneDetect",
                  ["video", "vstream shots", "PySceneDetect wall s", "vstream wall s", "wall ratio",
                   "PySceneDetect CPU s", "vstream CPU s", "CPU ratio"])
    sides = {"PySceneDetect": _pyscenedetect, "combined (default)": _vstream_index("combined"),
             "fast (no network)": _vstream_index("fast")}
    for label, path in videos.items():
        for measure in sides.values():  # one untimed run each: the OS file cache, numba's cache
            measure(path)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
        for _ in range(runs):
            for name, measure in sides.items():
                times[name].append(measure(path))
        wall = {n: statistics.median(w for w, _ in t) for n, t in times.items()}
        cpu = {n: statistics.median(c for _, c in t) for n, t in times.items()}
        base = "PySceneDetect"
        for name in list(sides)[1:]:
            table.rows.append([label, name, f"{wall[base]:.2f}", f"{wall[name]:.2f}",
                               f"{wall[base] / wall[name]:.2f}", f"{cpu[base]:.2f}",
                               f"{cpu[name]:.2f}", f"{cpu[base] / cpu[name]:.2f}"])
    table.notes.append(
        f"Median of {runs} fresh processes each, alternated, after one untimed run each. Ratio = "
        "PySceneDetect's time / vstream's (> 1: vstream faster). vstream: `python -m vstream index "
        "PATH --model none --shots SHOTS --no-progress --quiet --store chdb://NEW_DIR` (rows "
        "written; `combined` is the default, `fast` never runs the network). PySceneDetect: "
        f"`scenedetect.detect(PATH, ContentDetector())`. {os.cpu_count()} CPUs.")
    return table
