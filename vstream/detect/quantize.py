"""An int8 copy of the unified network's dense graph (`--precision int8`), for CPUs whose
integer dot products are fast.

On a CPU with VNNI (AVX-512 VNNI or AVX-VNNI: Intel since Cascade Lake, AMD since Zen 4)
onnxruntime runs int8 convolutions with one instruction per four multiply-adds; there the
dense graph at 392x220 took 5.7-6.3 ms a frame against fp32's 8.9-9.9 (batch 8, two threads),
and `vstream index --model unified` of the bench video 7.0 s against 9.0 s (alternated).
Without VNNI it ran no faster (an AMD EPYC without it: 19.7 against 20.2 ms, docs/benchmarks.md), and
onnxruntime's AVX2 int8 kernels can saturate (its quantization guide).

It is not the default: against fp32 on the same frames its person scores move by 0.02-0.05
(standard deviation; no bias), which moves borderline detections: the test video's person
recall drops from 0.87 to 0.84 (docs/models.md, "int8 on CPUs with VNNI").

The copy is made once per frame size beside the fp32 graph (onnxruntime's static quantization:
QDQ, weights int8 per channel, activations uint8 with ranges from MinMax calibration), from
CALIBRATION_FRAMES frames spread over the test video, resized to the graph's size: the same
frames on every machine, so every machine makes the same graph. Which frames matters: another
64 of the same video moved the test video's person recall by 0.02.
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from vstream.onnx_graphs import write_atomically

log = logging.getLogger(__name__)

#: frames the activation ranges are measured on (64 over the test video's 212 s)
CALIBRATION_FRAMES = 64
#: frames per calibration batch
CALIBRATION_BATCH = 8
#: /proc/cpuinfo flags that mean onnxruntime's int8 kernels use VNNI
VNNI_FLAGS = ("avx512_vnni", "avx_vnni")


def has_vnni(cpu_flags: str) -> bool:
    """Whether a /proc/cpuinfo "flags" line names a VNNI extension."""
    return any(flag in VNNI_FLAGS for flag in cpu_flags.split())


@functools.cache
def cpu_has_vnni() -> bool:
    """Whether this machine's CPU has VNNI (False where /proc/cpuinfo cannot tell: not Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith("flags"):
                    return has_vnni(line.partition(":")[2])
    except OSError:
        pass
    return False


def calibration_frames(size: tuple[int, int]) -> np.ndarray:
    """(CALIBRATION_FRAMES, height, width, 3) uint8 RGB frames spread evenly over the test video,
    resized as the pipeline's decoder resizes (area)."""
    import av

    from vstream.weights import test_video_path

    width, height = size
    with av.open(str(test_video_path())) as container:
        stream = container.streams.video[0]
        step = max(stream.frames // CALIBRATION_FRAMES, 1)
        frames = [frame.reformat(width, height, "rgb24", interpolation="AREA").to_ndarray()
                  for i, frame in enumerate(container.decode(stream)) if i % step == step // 2]
    return np.stack(frames[:CALIBRATION_FRAMES])


def quantize_dense(fp32: Path, out: Path, size: tuple[int, int]) -> None:
    """Write the int8 copy of the dense graph `fp32` (frames of `size`, width x height) to `out`."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    frames = calibration_frames(size)

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = iter([{"frames": frames[k:k + CALIBRATION_BATCH]}
                                  for k in range(0, len(frames), CALIBRATION_BATCH)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._batches, None)

    log.info("making an int8 copy of %s, calibrated on %d frames of the test video", fp32, len(frames))
    with tempfile.TemporaryDirectory(dir=out.parent) as scratch:
        prepared = os.path.join(scratch, "prepared.onnx")
        quant_pre_process(str(fp32), prepared, skip_symbolic_shape=True)

        def quantize(tmp: str) -> None:
            quantize_static(prepared, tmp, Frames(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)

        write_atomically(out, quantize)
