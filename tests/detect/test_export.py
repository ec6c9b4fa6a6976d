"""ONNX export of the whole unified network, run in onnxruntime against torch."""

from __future__ import annotations

import pathlib

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from vstream.detect.export import export_onnx
from vstream.detect.mobilenet import preprocess
from vstream.detect.network import OUTPUT_NAMES, UnifiedModel, UnifiedNet


@pytest.mark.integration  # a whole real video or model run
def test_onnx_matches_torch(tmp_path: pathlib.Path) -> None:
    torch.manual_seed(3)
    net = UnifiedNet().eval()
    w, h = UnifiedModel(net, "test").frame_size(768, 576)  # a 4:3 camera's size, not 384x224
    path = export_onnx(net, tmp_path / "unified.onnx", batch_size=2, size=(w, h))
    onnx.checker.check_model(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == list(OUTPUT_NAMES)
    frames = np.random.default_rng(4).integers(0, 256, (2, h, w, 3), dtype=np.uint8)
    x = preprocess(frames, None).contiguous()
    # a different number of rois than at export: K is dynamic
    rois = torch.tensor([[0, 10.0, 20, 50, 90], [1, 100, 50, 130, 80], [1, 0, 0, w, h],
                         [0, 300, 150, 320, 170], [1, 5, 5, 9, 9], [0, 50, 50, 250, 200]])
    got = session.run(None, {"images": x.numpy(), "rois": rois.numpy()})
    with torch.inference_mode():
        want = net(x, rois)
    for name, a, b in zip(OUTPUT_NAMES, got, want):
        assert a.shape == tuple(b.shape), name
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-3, atol=1e-4, err_msg=name)
