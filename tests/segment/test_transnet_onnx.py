"""TransNetV2 through onnxruntime: the same probabilities as the torch model, exported on first
need into vstream's cache directory."""

from __future__ import annotations

import logging
from pathlib import Path

import av
import numpy as np
import pytest

from vstream.segment.transnet_onnx import CLIP_FRAMES, TransNetOnnx, onnx_path
from vstream.weights import test_video_path


def _test_video_clips(starts: list[int]) -> list[np.ndarray]:
    """32-frame clips of the test video at TransNetV2's 48x27, starting at `starts`."""
    wanted = {s + i for s in starts for i in range(CLIP_FRAMES)}
    frames: dict[int, np.ndarray] = {}
    with av.open(str(test_video_path())) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i > max(wanted):
                break
            if i in wanted:
                frames[i] = frame.to_ndarray(format="rgb24", width=48, height=27)
    return [np.stack([frames[s + i] for i in range(CLIP_FRAMES)]) for s in starts]


@pytest.mark.integration  # exports the graph with torch (~5-10 s)
def test_a_missing_graph_is_exported_once_and_gives_the_torch_models_probabilities(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import torch

    from vstream.segment.transnet import load_transnet

    monkeypatch.setenv("VSTREAM_CACHE_DIR", str(tmp_path / "cache"))
    assert not onnx_path().exists()
    # the start of the test video (a cut at frame 1: 0.86 here) and the stretches around the
    # combined detector's first two candidates (1891, 2684: the network is unsure, 0.39, 0.12)
    clips = _test_video_clips([0, 1875, 2670])
    network = TransNetOnnx()
    with caplog.at_level(logging.INFO, logger="vstream.onnx_graphs"):
        got = [network.probabilities(clip) for clip in clips]
    assert onnx_path().exists()
    assert [r.message for r in caplog.records if "exporting TransNetV2" in r.message]
    model = load_transnet("cpu")
    with torch.inference_mode():
        want = [model(torch.from_numpy(clip[None]))[0].numpy() for clip in clips]
    for g, w in zip(got, want):
        assert g.shape == (CLIP_FRAMES,) and g.dtype == np.float32
        np.testing.assert_allclose(g, w, atol=1e-5)
    # the clips are not all alike: a real cut scores high somewhere, a quiet stretch does not
    assert max(float(g.max()) for g in got) > 0.5
    # a second session reads the file, no second export
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="vstream.onnx_graphs"):
        again = TransNetOnnx().probabilities(clips[1])
    np.testing.assert_array_equal(again, got[1])
    assert not caplog.records


def test_a_clip_of_the_wrong_shape_or_type_is_refused_before_the_graph_opens() -> None:
    network = TransNetOnnx(Path("/nonexistent/never-opened.onnx"))
    with pytest.raises(ValueError, match="uint8"):
        network.probabilities(np.zeros((CLIP_FRAMES, 27, 48, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(32, 27, 48, 3\)"):
        network.probabilities(np.zeros((31, 27, 48, 3), np.uint8))
