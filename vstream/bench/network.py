"""Network throughput: the MobileNetV2 backbone with its classification head (the frame tagger's
network) at batch 1 and 16, fp32 and bf16, on real frames of the test video."""

from __future__ import annotations

import time

import av
import numpy as np
import torch

from vstream.bench.runner import Table
from vstream.detect.mobilenet import load_mobilenet_v2, preprocess
from vstream.weights import test_video_path


def bench_network(size: int = 224, seconds: float = 3.0) -> Table:
    with av.open(str(test_video_path())) as c:
        frames = np.stack([f.to_ndarray(format="rgb24", width=size, height=size)
                           for _, f in zip(range(16), c.decode(video=0))])
    model = load_mobilenet_v2()
    bf16_ok = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    table = Table(f"MobileNetV2 + ImageNet head, {size}x{size}, CPU ({torch.get_num_threads()} threads)",
                  ["batch", "fp32 frames/s", "bf16 frames/s" if bf16_ok else "bf16 (no native bf16)"])
    for batch in (1, 16):
        x = preprocess(frames[:batch], None)
        row = [str(batch)]
        for bf16 in (False, True):
            if bf16 and not bf16_ok:
                row.append("-")
                continue
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                model.classify(x)  # oneDNN builds its kernels for this shape
                done, start = 0, time.perf_counter()
                while time.perf_counter() - start < seconds:
                    model.classify(x)
                    done += batch
            row.append(f"{done / (time.perf_counter() - start):.0f}")
        table.rows.append(row)
    table.notes.append("Preprocessing excluded (frames are already at the input size); "
                       f"each cell runs for {seconds:g} s after one warm-up call.")
    return table
