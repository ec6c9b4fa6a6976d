"""A small top-down feature pyramid (Lin et al., 2017) over the backbone taps c3/c4/c5, with a
single output at stride 8: the shared features every dense head and the RoIAlign read.

One output level is enough here: the objects we detect are small (faces of 10-30 analysis
pixels) to frame-sized (a person close up), and a stride-8 map with c5's context added top-down
sees both; one level keeps the heads and their decode simple.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vstream.detect.mobilenet import FEATURE_TAPS


class FeaturePyramid(nn.Module):
    """c3 (stride 8), c4 (16), c5 (32) -> one (B, channels, H/8, W/8) map.

    Each tap is projected to `channels` by a 1x1 conv; coarser levels are upsampled (nearest)
    and added to the next finer one; a 3x3 conv + ReLU smooths the stride-8 sum.
    """

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        self.channels = channels
        self.lateral = nn.ModuleDict(
            {name: nn.Conv2d(FEATURE_TAPS[name].channels, channels, 1) for name in ("c3", "c4", "c5")}
        )
        self.smooth = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True))

    def forward(self, taps: dict[str, torch.Tensor]) -> torch.Tensor:
        """{"c3", "c4", "c5"} feature maps -> (B, channels, h3, w3) at c3's grid."""
        x = self.lateral["c5"](taps["c5"])
        for name in ("c4", "c3"):
            lateral = self.lateral[name](taps[name])
            # size= rather than scale_factor=2: odd input sizes round up at each stride
            x = lateral + F.interpolate(x, size=lateral.shape[-2:], mode="nearest")
        return self.smooth(x)
