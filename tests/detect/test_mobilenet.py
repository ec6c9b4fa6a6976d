"""MobileNetV2: strict weight load, feature taps, and ImageNet classification of real photos.

The photos are scikit-image's bundled samples (`pip install scikit-image`); tests that need
them are skipped without it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vstream.detect.imagenet import class_index, imagenet_classes
from vstream.detect.backbone_weights import mobilenet_weights_path
from vstream.detect.mobilenet import FEATURE_TAPS, MobileNetV2, load_mobilenet_v2, preprocess


def test_state_dict_loads_strict() -> None:
    state = torch.load(mobilenet_weights_path(), map_location="cpu", weights_only=True)
    result = MobileNetV2().load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_model_is_shared_per_device_and_in_eval_mode() -> None:
    model = load_mobilenet_v2("cpu")
    assert model is load_mobilenet_v2(torch.device("cpu"))
    assert not model.training


@pytest.mark.parametrize(
    "hw, expected",
    [
        ((224, 224), {"c2": (56, 56), "c3": (28, 28), "c4": (14, 14), "c5": (7, 7)}),
        # each stride-2 conv (padding 1) rounds up: 360 -> 180, 90, 45, 23, 12
        ((360, 640), {"c2": (90, 160), "c3": (45, 80), "c4": (23, 40), "c5": (12, 20)}),
    ],
)
def test_feature_map_shapes(hw: tuple[int, int], expected: dict[str, tuple[int, int]]) -> None:
    frames = np.random.default_rng(0).integers(0, 256, (2, *hw, 3), dtype=np.uint8)
    with torch.inference_mode():
        features = load_mobilenet_v2().forward_features(preprocess(frames, size=None))
    assert set(features) == set(FEATURE_TAPS)
    for name, tap in FEATURE_TAPS.items():
        assert tuple(features[name].shape) == (2, tap.channels, *expected[name])
        assert tap.stride == 2 ** int(name[1])


def test_preprocess_normalises_and_resizes() -> None:
    frames = np.full((3, 90, 160, 3), 255, dtype=np.uint8)
    x = preprocess(frames, size=(64, 96))
    assert x.shape == (3, 3, 64, 96) and x.dtype == torch.float32
    assert x.is_contiguous(memory_format=torch.channels_last)
    white = (1.0 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    torch.testing.assert_close(x[0, :, 10, 10], white)


@pytest.mark.parametrize(
    "frames",
    [np.zeros((90, 160, 3), np.uint8), np.zeros((1, 90, 160, 3), np.float32),
     np.zeros((1, 90, 160, 4), np.uint8), [[0]]],
)
def test_preprocess_rejects_bad_frames(frames: object) -> None:
    with pytest.raises(ValueError, match="uint8"):
        preprocess(frames)  # type: ignore[arg-type]


def test_class_list() -> None:
    classes = imagenet_classes()
    assert len(classes) == 1000
    assert [c.synset for c in classes] == sorted(c.synset for c in classes)
    assert classes[281].name == "tabby" and classes[819].name == "stage"
    assert class_index("n02012849") == 134  # crane the bird; "crane" alone is ambiguous
    with pytest.raises(ValueError, match="ambiguous"):
        class_index("crane")
    with pytest.raises(ValueError, match="unknown"):
        class_index("tabby cat")


@pytest.mark.parametrize(
    "image, accepted",
    [
        ("chelsea", {"tabby", "tiger cat", "Egyptian cat"}),
        ("coffee", {"espresso", "cup", "coffee mug"}),
    ],
)
def test_classifies_real_photos(image: str, accepted: set[str]) -> None:
    skimage_data = pytest.importorskip("skimage.data")
    frame = getattr(skimage_data, image)()[None]
    with torch.inference_mode():
        logits = load_mobilenet_v2().classify(preprocess(frame))
    top5 = {imagenet_classes()[i].name for i in logits[0].topk(5).indices.tolist()}
    assert top5 & accepted, f"{image}: top-5 {top5}"
