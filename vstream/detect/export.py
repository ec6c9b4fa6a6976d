"""ONNX export of the whole unified network (backbone, pyramid, all heads, RoIAlign + embedding).

The graph has two inputs: `images` (B, 3, 224, 384) normalised as `mobilenet.preprocess` does,
and `rois` (K, 5) rows of (batch_index, x1, y1, x2, y2) in input pixels whose embeddings are
wanted; the outputs are the raw heads, `network.OUTPUT_NAMES`. Box decoding (peak test, top-k)
stays in the caller, as for TensorRT or onnxruntime deployments: it is a few array operations and
the runtime picks rois from it before running the embedding. The batch is fixed at export time
(fixed shapes let TensorRT and onnxruntime plan once); K is dynamic.

Exported with the TorchScript-based exporter (`dynamo=False`): the dynamo exporter needs
onnxscript, which vstream does not depend on. Opset 17 has GridSample (RoIAlign's sampling).
"""

from __future__ import annotations

import pathlib

import torch

from vstream.detect.labels import ANALYSIS_SIZE
from vstream.detect.network import OUTPUT_NAMES, UnifiedNet

OPSET = 17


def export_onnx(net: UnifiedNet, path: str | pathlib.Path, batch_size: int = 1, n_rois: int = 4,
                size: tuple[int, int] = ANALYSIS_SIZE) -> pathlib.Path:
    """Write `net` (fp32, CPU) as ONNX to `path` for a fixed `batch_size` of frames of `size`
    (width, height: `UnifiedModel.frame_size` of the source it will analyse).

    `n_rois` only sizes the example roi input; K is a dynamic axis of the graph.
    """
    if batch_size < 1 or n_rois < 1:
        raise ValueError(f"batch_size and n_rois must be >= 1, got {batch_size}, {n_rois}")
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    net = net.eval().float().cpu()
    images = torch.zeros(batch_size, 3, height, width)
    rois = torch.tensor([[i % batch_size, 8.0 * i, 8.0, 8.0 * i + 40.0, 64.0] for i in range(n_rois)])
    with torch.inference_mode(False), torch.no_grad():
        torch.onnx.export(
            net, (images, rois), str(path), input_names=["images", "rois"],
            output_names=list(OUTPUT_NAMES), opset_version=OPSET, dynamo=False,
            dynamic_axes={"rois": {0: "n_rois"}, "embeddings": {0: "n_rois"}},
        )
    return path
