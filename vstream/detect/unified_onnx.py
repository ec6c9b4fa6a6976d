"""The unified network through onnxruntime: how `UnifiedModel` runs fp32 on a CPU.

torch's eager CPU path runs every BatchNorm and ReLU6 of MobileNetV2 as its own pass over memory
(in a cProfile of `vstream index --model unified`, 42% of the backbone's time was in them);
onnxruntime folds them into the convolutions and plans the graph once per shape: 2.3-3x torch's
fp32 frames/s on two cores, `vstream index --model unified` 1.8x faster (docs/benchmarks.md). The
outputs match torch's to ~1e-4 (tests/detect/test_unified_onnx.py).

The graphs (`vstream.detect.export`: a dense graph per batch of frames, an embedding graph for
the boxes kept) are exported from the network when first needed for a frame size, into
vstream's cache directory (`vstream.cache`), in a folder named after a fingerprint of the
network (`graph_fingerprint`: trained weights, backbone file, shape, tag map), the frame size and
`EXPORT_VERSION`: another checkpoint, another backbone or another tag map is another folder, and
a process that finds the folder opens it at once, without torch (an export takes seconds and
imports torch). Sessions are opened as the other graphs' are
(`vstream.onnx_graphs.open_session`: threads that sleep when idle), one per core.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from vstream.cache import cache_dir
from vstream.detect.unified_model import DenseArrays
from vstream.onnx_graphs import open_session

if TYPE_CHECKING:
    from vstream.detect.network import UnifiedNet

#: bump when `export_onnx` changes, so graphs exported by older code are not read
EXPORT_VERSION = 2
#: graph folders kept in the cache: every checkpoint tried and frame size analysed makes one
#: (~16 MB, mostly the backbone's weights), so the least recently opened beyond these go
KEEP_FOLDERS = 8
#: the dense graph's outputs, in order
DENSE_OUTPUTS = ("heatmap", "size", "offset", "mask", "tag_scores", "features")


class UnifiedGraphs(NamedTuple):
    """The two files of one export."""

    dense: Path
    embed: Path

    @classmethod
    def at(cls, directory: str | Path) -> UnifiedGraphs:
        """The files of an export into `directory`."""
        directory = Path(directory)
        return cls(directory / "dense.onnx", directory / "embed.onnx")

    @property
    def dense_int8(self) -> Path:
        """The dense graph's int8 copy (`vstream.detect.quantize`), made from it when first used."""
        return self.dense.with_name("dense-int8.onnx")


def graph_fingerprint(head_hash: str, classes: Sequence[str], channels: int, embed_dim: int,
                      tags: Sequence[str], tag_matrix: np.ndarray) -> str:
    """16 hex naming what a network's graphs compute: its trained weights (`weights_hash` of
    the heads), the installed backbone file, its shape and its tag map."""
    from vstream.detect.checkpoint import backbone_sha256

    h = hashlib.sha256(f"{head_hash}|{backbone_sha256()}|{list(classes)}|{channels}|{embed_dim}|"
                       f"{list(tags)}|".encode())
    h.update(np.ascontiguousarray(tag_matrix, np.float32).tobytes())
    return h.hexdigest()[:16]


class UnifiedOnnx:
    """`UnifiedRuntime` through onnxruntime: the dense and embedding graphs of one network, one
    pair of sessions per frame size. `build_net` is called only when a frame size's graphs are
    not in the cache yet (it needs torch): a process that finds them never imports torch."""

    def __init__(self, fingerprint: str, build_net: Callable[[], UnifiedNet], *, int8: bool = False) -> None:
        self._fingerprint = fingerprint
        self._build_net = build_net
        #: run the dense graph's int8 copy (`vstream.detect.quantize`); the embedding graph stays fp32
        self.int8 = int8
        self._sessions: dict[tuple[int, int], tuple[Any, Any]] = {}

    @classmethod
    def of_net(cls, net: UnifiedNet) -> UnifiedOnnx:
        """The graphs of a network in memory (a checkpoint's, or one being trained)."""
        from vstream.detect.checkpoint import weights_hash

        head = weights_hash({k: v.detach().float().cpu().numpy() for k, v in net.trained_state_dict().items()})
        key = graph_fingerprint(head, net.classes, net.channels, net.embed_dim, net.tags,
                                net.tag_matrix.float().cpu().numpy())
        return cls(key, lambda: net)

    def graph_directory(self, size: tuple[int, int]) -> Path:
        """Where the graphs for frames of `size` (width, height) live (they may not exist yet)."""
        return cache_dir() / f"unified-{self._fingerprint}-{size[0]}x{size[1]}-v{EXPORT_VERSION}"

    def dense(self, frames: np.ndarray) -> DenseArrays:
        """uint8 RGB frames (B, H, W, 3) -> the dense outputs (onnxruntime's arrays, no copy)."""
        dense, _ = self._open((frames.shape[2], frames.shape[1]))
        out = dict(zip(DENSE_OUTPUTS, dense.run(None, {"frames": np.ascontiguousarray(frames)})))
        return DenseArrays(**out)

    def embed(self, features: np.ndarray, rois: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """`DenseArrays.features` of frames of `size` and rois (K >= 1, 5) -> embeddings (K, D).
        (Not K = 0: ONNX's Reshape reads a 0 in a shape as "keep this dimension".)"""
        _, embed = self._open(size)
        return embed.run(None, {"features": features, "rois": rois.astype(np.float32)})[0]

    def _open(self, size: tuple[int, int]) -> tuple[Any, Any]:
        if size not in self._sessions:
            directory = self.graph_directory(size)
            graphs = UnifiedGraphs.at(directory)
            what = f"the unified network ({self._fingerprint}) at {size[0]}x{size[1]}"

            def export(_: Path) -> None:
                from vstream.detect.export import export_onnx

                export_onnx(self._build_net(), directory, size)
                _forget_old_folders(directory.parent)

            def quantize(_: Path) -> None:
                from vstream.detect.quantize import quantize_dense

                if not graphs.dense.exists():
                    export(graphs.dense)
                quantize_dense(graphs.dense, graphs.dense_int8, size)

            # every core: the network is most of a process's work, where TransNetV2's clips
            # and SSDLite's windows are one part of several (two threads each)
            threads = os.cpu_count() or 1
            dense = (open_session(graphs.dense_int8, quantize, f"{what}, int8", threads) if self.int8
                     else open_session(graphs.dense, export, what, threads))
            self._sessions[size] = (dense, open_session(graphs.embed, export, what, threads))
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
