"""ONNX export of the whole unified network (dense and embedding graphs), run in onnxruntime
against torch."""

from __future__ import annotations

import pathlib

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from vstream.detect.export import export_onnx
from vstream.detect.unified_onnx import DENSE_OUTPUTS
from vstream.detect.mobilenet import preprocess
from vstream.detect.network import UnifiedNet
from vstream.detect.unified_model import analysis_frame_size


@pytest.mark.integration  # a whole real video or model run
def test_onnx_matches_torch(tmp_path: pathlib.Path) -> None:
    torch.manual_seed(3)
    net = UnifiedNet().eval()
    w, h = analysis_frame_size(768, 576)  # a 4:3 camera's size, not 384x224
    graphs = export_onnx(net, tmp_path, size=(w, h))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    dense, embed = (ort.InferenceSession(str(p), options, providers=["CPUExecutionProvider"])
                    for p in graphs)
    for path in graphs:
        onnx.checker.check_model(str(path))
    assert [o.name for o in dense.get_outputs()] == list(DENSE_OUTPUTS)
    # a different batch and number of rois than at export: both axes are dynamic
    frames = np.random.default_rng(4).integers(0, 256, (3, h, w, 3), dtype=np.uint8)
    rois = torch.tensor([[0, 10.0, 20, 50, 90], [1, 100, 50, 130, 80], [2, 0, 0, w, h],
                         [0, 300, 150, 320, 170], [1, 5, 5, 9, 9], [2, 50, 50, 250, 200]])
    got = dense.run(None, {"frames": frames})
    with torch.inference_mode():
        out = net.dense(preprocess(frames, None))
        want_embeddings = net.embed(out.features, rois)
    for name, a in zip(DENSE_OUTPUTS, got):
        b = getattr(out, name)
        assert a.shape == tuple(b.shape), name
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-3, atol=1e-4, err_msg=name)
    embeddings = embed.run(None, {"features": got[-1], "rois": rois.numpy()})[0]
    np.testing.assert_allclose(embeddings, want_embeddings.numpy(), rtol=1e-3, atol=1e-4)
