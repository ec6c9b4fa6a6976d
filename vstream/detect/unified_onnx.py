"""The unified network through onnxruntime: how `UnifiedModel` runs fp32 on a CPU.

torch's eager CPU path runs every BatchNorm and ReLU6 of MobileNetV2 as its own pass over memory
(in a cProfile of `vstream index --model unified`, 42% of the backbone's time was in them);
onnxruntime folds them into the convolutions and plans the graph once per shape: 2.3-3x torch's
fp32 frames/s on two cores, `vstream index --model unified` 1.8x faster (docs/benchmarks.md). The
outputs match torch's to ~1e-4 (tests/detect/test_unified_onnx.py).

The graphs (`vstream.detect.export`: a dense graph per batch of frames, an embedding graph for
the boxes kept) are exported from the network when first needed for a frame size, into
vstream's cache directory (`vstream.cache`), in a folder named after a fingerprint of the
network's weights and buffers, the frame size and `EXPORT_VERSION`: another checkpoint, another
backbone or another tag map is another folder, and a process that finds the folder opens it at
once (an export takes seconds). Sessions are opened as the other graphs' are
(`vstream.onnx_graphs.open_session`: threads that sleep when idle), one per core.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vstream.cache import cache_dir
from vstream.detect.export import DENSE_OUTPUTS, UnifiedGraphs, export_onnx
from vstream.detect.network import DenseOutputs, UnifiedNet
from vstream.onnx_graphs import open_session

#: bump when `export_onnx` changes, so graphs exported by older code are not read
EXPORT_VERSION = 1
#: graph folders kept in the cache: every checkpoint tried and frame size analysed makes one
#: (~16 MB, mostly the backbone's weights), so the least recently opened beyond these go
KEEP_FOLDERS = 8


def fingerprint(net: UnifiedNet) -> str:
    """16 hex of the SHA-256 of every parameter and buffer of `net` (names, shapes, bytes): what
    its graphs compute, for naming their cache folder."""
    h = hashlib.sha256()
    for name, t in [*net.named_parameters(), *net.named_buffers()]:
        t = t.detach().float().cpu().contiguous()
        h.update(f"{name}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:16]


class UnifiedOnnx:
    """The dense and embedding graphs of one `UnifiedNet`, one pair of sessions per frame size."""

    def __init__(self, net: UnifiedNet) -> None:
        self.net = net
        self._fingerprint = fingerprint(net)
        self._sessions: dict[tuple[int, int], tuple[Any, Any]] = {}

    def graph_directory(self, size: tuple[int, int]) -> Path:
        """Where the graphs for frames of `size` (width, height) live (they may not exist yet)."""
        return cache_dir() / f"unified-{self._fingerprint}-{size[0]}x{size[1]}-v{EXPORT_VERSION}"

    def dense(self, frames: np.ndarray) -> DenseOutputs:
        """uint8 RGB frames (B, H, W, 3) -> the dense outputs (CPU tensors over onnxruntime's
        arrays, no copy)."""
        dense, _ = self._open((frames.shape[2], frames.shape[1]))
        out = dict(zip(DENSE_OUTPUTS, dense.run(None, {"frames": np.ascontiguousarray(frames)})))
        return DenseOutputs(**{name: torch.from_numpy(out[name]) for name in DenseOutputs._fields})

    def embed(self, features: torch.Tensor, rois: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """`DenseOutputs.features` of frames of `size` and rois (K, 5) -> embeddings (K, D)."""
        if len(rois) == 0:  # ONNX's Reshape reads a 0 in a shape as "keep this dimension"
            return torch.zeros((0, self.net.embed_dim))
        _, embed = self._open(size)
        return torch.from_numpy(embed.run(None, {"features": features.numpy(),
                                                 "rois": rois.float().numpy()})[0])

    def _open(self, size: tuple[int, int]) -> tuple[Any, Any]:
        if size not in self._sessions:
            directory = self.graph_directory(size)
            graphs = UnifiedGraphs.at(directory)
            what = f"the unified network ({self._fingerprint}) at {size[0]}x{size[1]}"

            def export(_: Path) -> None:
                export_onnx(self.net, directory, size)
                _forget_old_folders(directory.parent)

            # every core: the network is most of a process's work, where TransNetV2's clips
            # and SSDLite's windows are one part of several (two threads each)
            threads = os.cpu_count() or 1
            self._sessions[size] = (open_session(graphs.dense, export, what, threads),
                                    open_session(graphs.embed, export, what, threads))
            with contextlib.suppress(FileNotFoundError):  # another process's clean-up
                os.utime(directory)  # opened now: the last folder `_forget_old_folders` removes
        return self._sessions[size]


def _forget_old_folders(cache: Path) -> None:
    """Delete the unified graph folders beyond the KEEP_FOLDERS most recently opened (a process
    that has one open keeps its sessions: onnxruntime read the files when it opened them)."""
    def opened(folder: Path) -> float:
        try:
            return folder.stat().st_mtime
        except FileNotFoundError:  # removed by another process meanwhile
            return 0.0

    folders = sorted(cache.glob("unified-*"), key=opened, reverse=True)
    for folder in folders[KEEP_FOLDERS:]:
        shutil.rmtree(folder, ignore_errors=True)
