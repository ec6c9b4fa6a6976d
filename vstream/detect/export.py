"""ONNX export of the whole unified network, as the two graphs a runtime runs per batch.

- `dense.onnx`: `frames`, uint8 RGB (B, H, W, 3) as decoded -> `DENSE_OUTPUTS`: heatmap logits,
  log size, offset, person mask logits, tag scores and the shared stride-8 features. The
  normalisation (`mobilenet.normalise`) is inside the graph, so a runtime hands it the decoded
  frames as they are.
- `embed.onnx`: `features` (B, channels, h, w) from the dense graph and `rois` (K, 5) rows of
  (batch_index, x1, y1, x2, y2) in input pixels -> `embeddings` (K, embed_dim), L2-normalised.

Box decoding (peak test, top-k, thresholds) stays in the caller between the two, as for TensorRT
or onnxruntime deployments: it is a few array operations, and it picks the rois, so only the
boxes kept are embedded (embedding every top-k candidate would cost more than decoding saves).
The frame size is fixed at export time (fixed spatial shapes let onnxruntime and TensorRT plan
once; the network analyses each source at its own `analysis_frame_size`); the batch B and the
number of rois K are dynamic.

Exported with the TorchScript-based exporter (`dynamo=False`): the dynamo exporter needs
onnxscript, which vstream does not depend on. Opset 17 has GridSample (RoIAlign's sampling).
"""

from __future__ import annotations

import pathlib

import torch
from torch import nn

from vstream.detect.labels import ANALYSIS_SIZE
from vstream.detect.mobilenet import normalise
from vstream.detect.network import UnifiedNet
from vstream.detect.unified_onnx import DENSE_OUTPUTS, UnifiedGraphs
from vstream.onnx_graphs import write_atomically

OPSET = 17


class _Dense(nn.Module):
    """uint8 frames (B, H, W, 3) -> `DENSE_OUTPUTS`."""

    def __init__(self, net: UnifiedNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.net.dense(normalise(frames.permute(0, 3, 1, 2).float()))
        return out.heatmap, out.size, out.offset, out.mask, out.tag_scores, out.features


class _Embed(nn.Module):
    """features (B, C, h, w), rois (K, 5) -> embeddings (K, embed_dim)."""

    def __init__(self, net: UnifiedNet) -> None:
        super().__init__()
        self.embed = net.embed

    def forward(self, features: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        return self.embed(features, rois)


def export_onnx(net: UnifiedNet, directory: str | pathlib.Path,
                size: tuple[int, int] = ANALYSIS_SIZE) -> UnifiedGraphs:
    """Write `net` (fp32, CPU) as `dense.onnx` and `embed.onnx` into `directory`, for frames of
    `size` (width, height: `analysis_frame_size` of the source they will analyse). Each file is
    written atomically, the embedding graph first: a reader that finds the dense graph finds
    both."""
    graphs = UnifiedGraphs.at(directory)
    width, height = size
    net = net.eval().float().cpu()
    # two frames and three rois as examples: a batch or roi count of 1 could be folded into a
    # constant by the tracer, and both axes are dynamic
    frames = torch.zeros(2, height, width, 3, dtype=torch.uint8)
    rois = torch.tensor([[0, 8.0, 8.0, 48.0, 64.0], [1, 16.0, 8.0, 56.0, 64.0],
                         [1, 0.0, 0.0, width, height]])
    batch = {0: "batch"}
    with torch.inference_mode(False), torch.no_grad():
        features = _Dense(net)(frames)[-1]
        write_atomically(graphs.embed, lambda tmp: torch.onnx.export(
            _Embed(net), (features, rois), tmp, input_names=["features", "rois"],
            output_names=["embeddings"], opset_version=OPSET, dynamo=False,
            dynamic_axes={"features": batch, "rois": {0: "rois"}, "embeddings": {0: "rois"}}))
        write_atomically(graphs.dense, lambda tmp: torch.onnx.export(
            _Dense(net), (frames,), tmp, input_names=["frames"],
            output_names=list(DENSE_OUTPUTS), opset_version=OPSET, dynamo=False,
            dynamic_axes={"frames": batch, **{name: batch for name in DENSE_OUTPUTS}}))
    return graphs
