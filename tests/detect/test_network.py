"""UnifiedNet and UnifiedModel: output shapes, one backbone pass, frozen backbone, input checks."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
import torch

from vstream.detect.analysis import EMBED_DIM, FrameModel
from vstream.detect.labels import ANALYSIS_SIZE, CLASS_NAMES, FACE, PERSON
from vstream.detect.mobilenet import preprocess
from vstream.detect.network import UnifiedNet, model_from_net
from vstream.detect.person_faces import head_and_shoulders, lonely_faces, person_face_rows
from vstream.detect.tag_map import default_tag_map

W, H = ANALYSIS_SIZE


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return tmp_path_factory.mktemp("graphs")


@pytest.fixture(autouse=True)
def _cache(graphs: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The random networks' graphs go to a folder of this module, not the user's cache."""
    monkeypatch.setenv("VSTREAM_CACHE_DIR", str(graphs))


@pytest.fixture(scope="module")
def net() -> UnifiedNet:
    torch.manual_seed(0)
    return UnifiedNet().eval()


def _frames(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, H, W, 3), dtype=np.uint8)


def test_dense_output_shapes_and_one_backbone_pass(net: UnifiedNet) -> None:
    calls = []
    hook = net.backbone.features[0].register_forward_hook(lambda *a: calls.append(1))
    try:
        with torch.inference_mode():
            out = net.dense(preprocess(_frames(3), None))
    finally:
        hook.remove()
    assert calls == [1]
    n_tags = len(default_tag_map().tags)
    assert out.features.shape == (3, 64, H // 8, W // 8)
    assert out.heatmap.shape == (3, len(CLASS_NAMES), H // 8, W // 8)
    assert out.size.shape == out.offset.shape == (3, 2, H // 8, W // 8)
    assert out.mask.shape == (3, 1, H // 4, W // 4)  # the mask's finer grid
    assert out.tag_scores.shape == (3, n_tags)
    assert torch.all((out.tag_scores >= 0) & (out.tag_scores <= 1))


def test_a_network_made_before_the_stride_4_mask_keeps_its_stride_8_mask(tmp_path: pathlib.Path) -> None:
    """A checkpoint from before the stride-4 mask (2026-12-04: its metadata has no mask_stride)
    has a head that reads the stride-8 features; it loads and runs as it was trained."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    from vstream.detect.checkpoint import read_unified, save_unified

    path = tmp_path / "old.safetensors"
    save_unified(UnifiedNet(mask_stride=8), path)
    with safe_open(str(path), "pt") as f:
        metadata = {k: v for k, v in f.metadata().items() if k != "mask_stride"}
        state = {k: f.get_tensor(k) for k in f.keys()}
    save_file(state, str(path), metadata=metadata)
    loaded = read_unified(path)
    assert loaded.net.mask_stride == 8
    with torch.inference_mode():
        out = loaded.net.dense(preprocess(_frames(1), None))
    assert out.mask.shape == (1, 1, H // 8, W // 8)
    with pytest.raises(ValueError, match="mask_stride must be 4 or 8"):
        UnifiedNet(mask_stride=2)


def test_tag_scores_are_the_imagenet_head_through_the_tag_map(net: UnifiedNet) -> None:
    x = preprocess(_frames(2), None)
    with torch.inference_mode():
        probs = net.backbone.classify(x).softmax(dim=1)
        want = (probs @ torch.from_numpy(default_tag_map().matrix)).clamp(0, 1)
        torch.testing.assert_close(net.dense(x).tag_scores, want, rtol=1e-4, atol=1e-5)


def test_a_new_network_computes_each_frame_s_features_as_the_runtime_does() -> None:
    """Distillation's first use of a new net is to compute backbone features: they must not
    depend on the other frames of the batch, nor change the backbone (a backbone in train mode
    normalises by batch statistics and moves its running ones)."""
    fresh = UnifiedNet()
    frames = _frames(4)
    before = {k: v.clone() for k, v in fresh.backbone.state_dict().items()}
    with torch.inference_mode():
        batch = fresh.backbone.forward_features(preprocess(frames, None))
        alone = fresh.backbone.forward_features(preprocess(frames[:1], None))
    for name in ("c3", "c4", "c5"):
        torch.testing.assert_close(batch[name][:1], alone[name], rtol=1e-4, atol=1e-4)
    after = fresh.backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_backbone_is_frozen_and_stays_in_eval_mode(net: UnifiedNet) -> None:
    net.train()
    try:
        assert not net.backbone.training and net.fpn.training
        assert not any(p.requires_grad for p in net.backbone.parameters())
        assert all(p.requires_grad for p in net.embed.parameters())
        assert not any(k.startswith("backbone.") for k in net.trained_state_dict())
    finally:
        net.eval()


def test_tuned_layers_train_and_are_stored_the_rest_of_the_backbone_stays_the_wheel_s() -> None:
    tuned = UnifiedNet(tuned_from=14)
    tuned.train()
    try:
        assert not tuned.backbone.training  # BatchNorm statistics stay ImageNet's
        grads = {name for name, p in tuned.backbone.named_parameters() if p.requires_grad}
        assert grads and all(int(name.split(".")[1]) >= 14 for name in grads if name.startswith("features."))
        assert not any(name.startswith("classifier.") for name in grads)
        stored = {k for k in tuned.trained_state_dict() if k.startswith("backbone.")}
        assert {int(k.split(".")[2]) for k in stored} == set(range(14, 19))
    finally:
        tuned.eval()
    # the split pass is the whole pass
    x = preprocess(_frames(2), None)
    with torch.inference_mode():
        whole = tuned.backbone.forward_features(x)
        split = tuned.tuned_taps(tuned.frozen_taps(x))
    assert set(split) == {"c2", "c3", "c4", "c5"}
    for name in split:
        torch.testing.assert_close(split[name], whole[name])
    with pytest.raises(ValueError, match="tuned_from"):
        UnifiedNet(tuned_from=19)


def test_unified_model_analyze(net: UnifiedNet) -> None:
    # an untrained head with threshold 0 reports top_k boxes per frame: exercises every field
    model = model_from_net(net, "test", score_threshold=0.0, top_k=7, batch_size=2)
    typed: FrameModel = model  # the interface, checked by type checkers
    assert typed.input_size == ANALYSIS_SIZE and typed.model_version == "test"
    frames = _frames(3)
    result = model.analyze(frames)
    assert len(result) == 3
    for fa in result:
        # the network's top_k boxes, then a head-and-shoulders person for each face that none
        # of its person boxes contains (`person_faces`)
        d, found = fa.detections, fa.detections[:7]
        faces, people = found.class_id == FACE, found.class_id == PERSON
        lonely = lonely_faces(found.xyxy[faces], found.xyxy[people])
        assert len(d) == 7 + len(lonely) and d.embedding.shape == (len(d), EMBED_DIM)
        np.testing.assert_array_equal(d.xyxy[7:], head_and_shoulders(found.xyxy[faces][lonely], W, H))
        assert np.all(d.class_id[7:] == PERSON)
        np.testing.assert_array_equal(d.embedding[7:], found.embedding[faces][lonely])
        np.testing.assert_allclose(np.linalg.norm(found.embedding[faces], axis=1), 1.0, rtol=1e-5)
        # a person box carries the vector of the face inside it, or none (a zero row)
        carried = person_face_rows(found.xyxy[faces], found.xyxy[people])
        want = np.where((carried >= 0)[:, None], found.embedding[faces][carried], 0.0)
        np.testing.assert_array_equal(found.embedding[people], want)
        assert np.all(d.xyxy >= 0) and np.all(d.xyxy[:, [2, 3]] <= [W, H])
        assert set(d.class_id.tolist()) <= set(range(len(CLASS_NAMES)))
        assert fa.tag_scores.shape == (len(net.tags),)
        assert fa.person_mask.shape == (H // 4, W // 4)
        assert fa.person_mask.min() >= 0 and fa.person_mask.max() <= 1
    # batching does not change the result
    alone = model.analyze(frames[2:])[0].detections
    np.testing.assert_allclose(alone.xyxy, result[2].detections.xyxy, atol=1e-3)
    np.testing.assert_allclose(alone.embedding, result[2].detections.embedding, atol=1e-4)
    # threshold 1 keeps nothing, and empty detections still carry (0, 128) embeddings
    none = model_from_net(net, "test", score_threshold=1.0).analyze(frames[:1])[0].detections
    assert len(none) == 0 and none.embedding.shape == (0, EMBED_DIM)
    assert model.analyze(frames[:0]) == []


@pytest.mark.parametrize(
    "images",
    [np.zeros((1, 16, 160, 3), np.uint8), np.zeros((1, H, W, 3), np.float32),
     np.zeros((H, W, 3), np.uint8), np.zeros((1, H, W, 4), np.uint8)],
)
def test_analyze_rejects_what_is_not_a_batch_of_rgb_frames(net: UnifiedNet, images: np.ndarray) -> None:
    with pytest.raises(ValueError, match="uint8 .B, H, W, 3. RGB"):
        model_from_net(net, "test").analyze(images)


@pytest.mark.parametrize("source, size, area, scale", [
    ((160, 90), (392, 220), 1.0, 0.75), ((640, 360), (392, 220), 1.0, 0.75),
    ((360, 640), (220, 392), 1.0, 0.75),
    # larger sources at three quarters of their side, up to three times the area
    ((768, 576), (576, 432), 2.89, 0.75), ((1280, 720), (678, 380), 3.0, 0.75),
    ((1920, 1080), (678, 380), 3.0, 0.75),
    # a checkpoint that does not record its scale: its people's share of the pixels, up to twice
    ((768, 576), (470, 352), 1.92, None), ((1280, 720), (554, 312), 2.0, None),
    ((640, 360), (392, 220), 1.0, None)])
def test_a_source_is_analysed_at_its_own_aspect_ratio(net: UnifiedNet, source: tuple[int, int],
                                                      size: tuple[int, int], area: float,
                                                      scale: float | None) -> None:
    model = model_from_net(net, "test", score_threshold=0.0, top_k=5, large_source_scale=scale)
    assert model.frame_size(*source) == size
    assert abs(size[0] / size[1] - source[0] / source[1]) < 0.01 * source[0] / source[1]
    assert abs(size[0] * size[1] / (W * H) - area) < 0.03 * area
    result = model.analyze(np.zeros((2, size[1], size[0], 3), np.uint8))
    boxes = result[0].detections.xyxy
    assert len(boxes) >= 5 and np.all(boxes[:, [2, 3]] <= size)  # top_k, then faces' persons
    assert result[0].person_mask.shape == (-(-size[1] // 4), -(-size[0] // 4))


def test_bad_options(net: UnifiedNet) -> None:
    with pytest.raises(ValueError, match="fp16 needs a CUDA"):
        model_from_net(net, "test", precision="fp16")
    with pytest.raises(ValueError, match="score_threshold"):
        model_from_net(net, "test", score_threshold=1.5)
