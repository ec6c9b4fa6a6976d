"""The task heads of the unified network, all reading the shared stride-8 pyramid features.

- `DetectionHead`: anchor-free, CenterNet-style (Zhou et al., "Objects as Points"): a heatmap per
  class, box size and sub-cell centre offset per cell (decoding is in `vstream.detect.box_decode`).
- `MaskHead`: person mask logits per cell (of a stride-4 grid, from the features and c2).
- `EmbeddingHead`: RoIAlign of a box on the features + an MLP -> an L2-normalised appearance
  vector (distilled to reproduce dlib's 128-d face embedding).

The ImageNet classification head is not here: it is the backbone's own pretrained classifier on
c5 (`MobileNetV2.classifier`), kept frozen.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vstream.detect.roi_align import roi_align

#: initial heatmap probability: sigmoid(bias) = 0.1 keeps the focal loss of the first steps from
#: being swamped by the many background cells (CenterNet's -2.19)
_HEATMAP_PRIOR = 0.1
#: initial log box size in cells
_LOG_SIZE_PRIOR = 2.0


class DetectionHead(nn.Module):
    """Two 3x3 conv trunks, one for the heatmap and one for the box regression (sharing one trunk
    left the sizes of training boxes 25% short: the two tasks pull its 64 channels apart), then
    1x1 outputs: heatmap logits (B, n_classes, h, w), log box size in cells (B, 2, h, w:
    log(w / stride), log(h / stride)) and centre offset within the cell (B, 2, h, w, in [0, 1)
    when trained)."""

    def __init__(self, channels: int, n_classes: int, hidden: int = 64) -> None:
        super().__init__()
        self.heat_trunk = nn.Sequential(nn.Conv2d(channels, hidden, 3, padding=1), nn.ReLU(inplace=True))
        self.box_trunk = nn.Sequential(nn.Conv2d(channels, hidden, 3, padding=1), nn.ReLU(inplace=True))
        self.heatmap = nn.Conv2d(hidden, n_classes, 1)
        self.size = nn.Conv2d(hidden, 2, 1)
        self.offset = nn.Conv2d(hidden, 2, 1)
        nn.init.constant_(self.heatmap.bias, -math.log((1 - _HEATMAP_PRIOR) / _HEATMAP_PRIOR))
        # start at boxes of e^2 = 7 cells (56 px), the typical face-to-person size of the test
        # video, rather than 1 cell: L1 on log sizes closes a gap of 2 slowly
        nn.init.constant_(self.size.bias, _LOG_SIZE_PRIOR)
        nn.init.constant_(self.offset.bias, 0.5)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """features -> (heatmap logits, log size, offset)."""
        box = self.box_trunk(x)
        return self.heatmap(self.heat_trunk(x)), self.size(box), self.offset(box)


class MaskHead(nn.Module):
    """Person mask logits (B, 1, h, w) on the feature grid (stride 8) or, with `fine_channels`,
    on the grid of a finer backbone tap (c2, stride 4).

    Stride 4 because a camera's people are 2-5 stride-8 cells wide: the segmentation teacher's
    own mask averaged over stride-8 cells and upsampled scores IoU 0.77 against itself on
    vtest.avi, over stride-4 cells 0.88 (docs/models.md, "The mask teacher's stray regions, and
    a stride-4 mask"). The fine level is a U-Net-style step: the stride-8 trunk upsampled and
    added to a projection of c2, at `fine_hidden` channels, then `fine_layers` depthwise-separable
    steps: 7% of the dense graph at 392x220 (docs/models.md, "A person mask that keeps outlines";
    stride-4 checkpoints made before 2026-12-05, one 3x3 step at 16 channels, do not load)."""

    def __init__(self, channels: int, hidden: int = 32, fine_channels: int | None = None,
                 fine_hidden: int = 32, fine_layers: int = 2) -> None:
        super().__init__()
        self.fine_channels = fine_channels
        if fine_channels is None:
            self.net = nn.Sequential(
                nn.Conv2d(channels, hidden, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(hidden, 1, 1)
            )
        else:
            self.coarse = nn.Sequential(nn.Conv2d(channels, fine_hidden, 3, padding=1), nn.ReLU(inplace=True))
            self.lateral = nn.Conv2d(fine_channels, fine_hidden, 1)
            # depthwise-separable steps: a person's outline (legs apart, arms) needs a few
            # nonlinear layers at stride 4, at a sliver of a full 3x3 convolution's cost
            self.fine = nn.Sequential(
                *(layer for _ in range(fine_layers) for layer in (
                    nn.Conv2d(fine_hidden, fine_hidden, 3, padding=1, groups=fine_hidden),
                    nn.Conv2d(fine_hidden, fine_hidden, 1), nn.ReLU(inplace=True))),
                nn.Conv2d(fine_hidden, 1, 1),
            )

    def forward(self, x: torch.Tensor, fine: torch.Tensor | None = None) -> torch.Tensor:
        """features (and the finer tap, with `fine_channels`) -> mask logits."""
        if self.fine_channels is None:
            return self.net(x)
        if fine is None:
            raise ValueError("this mask head reads the stride-4 tap: give `fine`")
        lateral = self.lateral(fine)
        # size= rather than scale_factor=2: odd input sizes round up at each stride
        coarse = F.interpolate(self.coarse(x), size=lateral.shape[-2:], mode="bilinear", align_corners=False)
        return self.fine(coarse + lateral)


class EmbeddingHead(nn.Module):
    """RoIAlign (`pool` x `pool` bins) on the shared features + a 2-layer MLP -> unit vectors."""

    def __init__(self, channels: int, stride: int, embed_dim: int, pool: int = 4, hidden: int = 256) -> None:
        super().__init__()
        self.stride = stride
        self.pool = pool
        self.mlp = nn.Sequential(
            nn.Flatten(), nn.Linear(channels * pool * pool, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, embed_dim),
        )

    def forward(self, features: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        """features (B, C, h, w), rois (K, 5) of (batch_index, x1, y1, x2, y2) in input pixels
        -> (K, embed_dim) L2-normalised embeddings."""
        pooled = roi_align(features, rois, self.pool, 1.0 / self.stride, sampling_ratio=2)
        return F.normalize(self.mlp(pooled).float(), dim=1)
