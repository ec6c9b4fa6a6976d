"""Network throughput: the unified network (backbone, pyramid and all four heads, decoding and
RoIAlign embeddings included) at batch 1, 4 and 16, fp32 (onnxruntime, as `UnifiedModel` runs it
on a CPU) and bf16 (torch autocast), on real frames of the test video at the analysis size."""

from __future__ import annotations

import time

import av
import numpy as np
import torch

from vstream.bench.runner import Table
from vstream.detect.checkpoint import load_unified
from vstream.detect.labels import ANALYSIS_SIZE
from vstream.weights import test_video_path


def bench_network(seconds: float = 3.0) -> Table:
    width, height = ANALYSIS_SIZE
    with av.open(str(test_video_path())) as c:
        # frames 2000.. show people, so the embedding head has boxes to embed
        decoded = (f.to_ndarray(format="rgb24", width=width, height=height) for f in c.decode(video=0))
        frames = np.stack([f for i, f in zip(range(2016), decoded) if i >= 2000])
    bf16_ok = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    models = {p: load_unified(precision=p) for p in ("fp32", "bf16") if p == "fp32" or bf16_ok}
    table = Table(f"Unified network, {width}x{height}, CPU ({torch.get_num_threads()} threads)",
                  ["batch", "fp32 frames/s (onnxruntime)",
                   "bf16 frames/s (torch)" if bf16_ok else "bf16 (no native bf16)"])
    for batch in (1, 4, 16):
        row = [str(batch)]
        for precision in ("fp32", "bf16"):
            model = models.get(precision)
            if model is None:
                row.append("-")
                continue
            model.batch_size = batch
            x = frames[:batch]
            model.analyze(x)  # oneDNN or onnxruntime plans its kernels for this shape
            done, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                model.analyze(x)
                done += batch
            row.append(f"{done / (time.perf_counter() - start):.0f}")
        table.rows.append(row)
    table.notes.append("From uint8 frames at the analysis size to detections with embeddings, tag "
                       "scores and person masks (one backbone pass); decoding the video excluded. "
                       f"Each cell runs for {seconds:g} s after one warm-up call.")
    return table
