"""What the student learns from: the teacher's detections as CenterNet targets, and the losses
that compare the heads' outputs with them (used by `vstream.detect.distill`).

Losses (weights in `LossWeights`):
- heatmap: CenterNet's penalty-reduced focal loss on Gaussian heatmaps, per positive;
- size, offset: L1 at the centre cell of each teacher box (log size in cells, offset in cells)
  and, weighted by the heatmap Gaussian, at the 8 cells around it (a peak one cell off then
  still decodes the right box; the centre cell alone left boxes short even on training frames);
- mask: BCE of the person mask logits against the segmentation teacher's person probability
  averaged over each cell of the mask's grid (stride 4, or 8 for a network made before
  2026-12-04; `grid_mask`; MediaPipe's selfie segmentation,
  `teachers.selfie_segmentation`). Until 2026-12-03 the target was the teacher's person boxes
  filled in, so the mask was boxy: it said where people were, not their outline;
- mask_overlap: 1 - the soft IoU of the mask's probabilities with that target, per frame, over
  the frames where the teacher marks anyone. BCE is a mean over every cell, so a camera whose
  walkers cover 1% of the frame barely weighs; the overlap weighs each frame's people as a whole,
  as the mask IoU `vstream train eval` reports does;
- embedding: 1 - cosine between the embedding of a teacher box (RoIAlign on that box, jittered
  by up to 10% of its size so the head sees boxes as imprecise as its own detections) and the
  teacher's embedding, for faces and for person boxes whose teacher embedding is non-zero (a
  body crop learns the identity of the face inside it). A flipped frame keeps the unflipped
  target: a person's identity does not change in a mirror (dlib's vector moves a little);
- tags (only when the backbone's upper layers are tuned, `UnifiedNet.tuned_from`): the KL
  divergence of the frozen ImageNet classifier's class probabilities on the tuned features from
  those on the wheel's features (`tag_reference`), so the scene tags stay ImageNet's while the
  features learn people.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from vstream.detect.analysis import EMBED_DIM
from vstream.detect.centernet import CenterTargets, encode_targets, gaussian_sigma
from vstream.detect.network import UnifiedNet
from vstream.detect.unified_model import STRIDE
from vstream.detections import Detections

#: largest random shift of each edge of a box given to the embedding head, as a fraction of its side
ROI_JITTER = 0.1


class LossWeights(NamedTuple):
    """Weights of the loss terms (the defaults, the shipped checkpoint's, bring each to a similar
    size early in training)."""

    heatmap: float = 1.0
    size: float = 1.0
    offset: float = 1.0
    mask: float = 1.0
    mask_overlap: float = 1.0
    embedding: float = 2.0
    tags: float = 1.0


@dataclass
class TrainSet:
    """Cached backbone taps and teacher targets, one row per (frame, flip)."""

    taps: dict[str, torch.Tensor]  # `UnifiedNet.frozen_taps`: name -> (N, C, h, w)
    heatmap: torch.Tensor  # (N, n_classes, h, w)
    mask: torch.Tensor  # (N, 1, h, w)
    reg_sample: torch.Tensor  # (R,) row of each box-regression target
    reg_cell: torch.Tensor  # (R,) flat cell
    reg_size: torch.Tensor  # (R, 2)
    reg_offset: torch.Tensor  # (R, 2) box centre minus the cell, in cells
    reg_weight: torch.Tensor  # (R,) 1 at box centres, the Gaussian's value at neighbours
    box_sample: torch.Tensor  # (M,) row of each teacher box
    box_xyxy: torch.Tensor  # (M, 4) input pixels
    box_embedding: torch.Tensor  # (M, EMBED_DIM), zero where the teacher knows no appearance
    tag_reference: torch.Tensor | None = None  # (N, 1000) ImageNet log-probabilities of the wheel's backbone

    def __len__(self) -> int:
        return len(self.heatmap)


def flip_boxes(dets: Detections, width: int) -> Detections:
    """`dets` of an image `width` pixels wide, mirrored left to right."""
    xyxy = dets.xyxy.copy()
    xyxy[:, 0], xyxy[:, 2] = width - dets.xyxy[:, 2], width - dets.xyxy[:, 0]
    return Detections(xyxy, dets.confidence, dets.class_id, embedding=dets.embedding)


def grid_mask(mask: np.ndarray, stride: int) -> np.ndarray:
    """A uint8 person mask (H, W), probability * 255, in an image's pixels -> the mean probability
    of each `stride` x `stride` cell of the grid over that image, (ceil(H / stride),
    ceil(W / stride)) (the part of an edge cell outside the image counts as no person, as the
    runtime's mask sees only the image)."""
    h, w = -(-mask.shape[0] // stride), -(-mask.shape[1] // stride)
    padded = np.zeros((h * stride, w * stride), np.float32)
    padded[:mask.shape[0], :mask.shape[1]] = mask / np.float32(255)
    return padded.reshape(h, stride, w, stride).mean(axis=(1, 3))


def build_train_set(taps: dict[str, torch.Tensor], rows: list[Detections], masks: list[np.ndarray],
                    n_classes: int, size: tuple[int, int], mask_stride: int,
                    tag_reference: torch.Tensor | None = None) -> TrainSet:
    """Targets for `rows` (one teacher's detections per image, in pixels of images of `size`)
    and `masks` (the segmentation teacher's uint8 person mask of each image, learnt on the
    network's `mask_stride` grid), in the order of the `taps` rows; `tag_reference`: the wheel's ImageNet log-probabilities of the same images
    (when the backbone is tuned)."""
    width, height = size
    grid = (math.ceil(height / STRIDE), math.ceil(width / STRIDE))
    heat, mask_cells = [], []
    box: dict[str, list[np.ndarray]] = {k: [np.zeros(0, np.int64)] if k == "sample" else
                                        [np.zeros((0, 4 if k == "xyxy" else EMBED_DIM), np.float32)]
                                        for k in ("sample", "xyxy", "emb")}
    reg: dict[str, list[np.ndarray]] = {"sample": [np.zeros(0, np.int64)], "cell": [np.zeros(0, np.int64)],
                                        "size": [np.zeros((0, 2), np.float32)],
                                        "offset": [np.zeros((0, 2), np.float32)],
                                        "weight": [np.zeros(0, np.float32)]}
    for r, (d, mask) in enumerate(zip(rows, masks, strict=True)):
        t = encode_targets(d.xyxy, d.class_id, n_classes, grid, STRIDE)
        heat.append(t.heatmap)
        mask_cells.append(grid_mask(mask, mask_stride)[None])
        box["sample"].append(np.full(len(d), r, np.int64))
        box["xyxy"].append(d.xyxy.astype(np.float32))
        emb = d.embedding if d.embedding is not None else np.zeros((len(d), EMBED_DIM), np.float32)
        norm = np.linalg.norm(emb, axis=1, keepdims=True)
        box["emb"].append(np.where(norm > 0, emb / np.maximum(norm, 1e-12), 0.0).astype(np.float32))
        for k in range(len(d)):
            cells, offsets, weights = regression_cells(t, k, d.xyxy[k], grid)
            reg["sample"].append(np.full(len(cells), r, np.int64))
            reg["cell"].append(cells)
            reg["size"].append(np.repeat(t.size[k:k + 1], len(cells), axis=0).astype(np.float32))
            reg["offset"].append(offsets)
            reg["weight"].append(weights)
    cat = {k: torch.from_numpy(np.concatenate(v)) for k, v in box.items()}
    rc = {k: torch.from_numpy(np.concatenate(v)) for k, v in reg.items()}
    return TrainSet(
        taps, torch.from_numpy(np.stack(heat)), torch.from_numpy(np.stack(mask_cells)), rc["sample"],
        rc["cell"], rc["size"], rc["offset"], rc["weight"], cat["sample"], cat["xyxy"], cat["emb"],
        tag_reference,
    )


def regression_cells(t: CenterTargets, k: int, xyxy: np.ndarray, grid: tuple[int, int]
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells that learn box k's size and offset: its centre cell and the 8 around it, so a peak
    one cell off still decodes the right box. Neighbours are weighted by the heatmap Gaussian."""
    h, w = grid
    iy, ix = divmod(int(t.index[k]), w)
    cx, cy = ix + t.offset[k, 0], iy + t.offset[k, 1]
    bw = max(xyxy[2] - xyxy[0], 1.0) / STRIDE
    bh = max(xyxy[3] - xyxy[1], 1.0) / STRIDE
    sx, sy = gaussian_sigma(bw, bh)
    cells, offsets, weights = [], [], []
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            y, x = iy + dy, ix + dx
            if 0 <= y < h and 0 <= x < w:
                cells.append(y * w + x)
                offsets.append((cx - x, cy - y))
                weights.append(np.exp(-dx * dx / (2 * sx * sx) - dy * dy / (2 * sy * sy)))
    return (np.asarray(cells, np.int64), np.asarray(offsets, np.float32).reshape(-1, 2),
            np.asarray(weights, np.float32))


def focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss (alpha 2, beta 4), summed and divided by the
    number of positives (cells where target == 1), at least 1."""
    p = logits.sigmoid().clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1).float()
    pos_loss = torch.log(p) * (1 - p) ** 2 * pos
    neg_loss = torch.log(1 - p) * p**2 * (1 - target) ** 4 * (1 - pos)
    return -(pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp(min=1)


def soft_overlap_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - soft IoU (sum of p*t over sum of p + t - p*t) of (B, 1, h, w) mask logits with
    target probabilities, per frame, averaged over the frames whose target holds at least one
    cell's worth of person; 0 when none does."""
    p = logits.sigmoid().flatten(1)
    t = target.flatten(1)
    marked = t.sum(dim=1) >= 1.0
    if not marked.any():
        return logits.new_zeros(())
    p, t = p[marked], t[marked]
    intersection = (p * t).sum(dim=1)
    return (1 - intersection / (p + t - p * t).sum(dim=1)).mean()


def batch_loss(net: UnifiedNet, data: TrainSet, rows: torch.Tensor, weights: LossWeights,
                gen: torch.Generator, bf16: bool) -> dict[str, torch.Tensor]:
    # channels-last: oneDNN's convolutions (forward and backward) are ~2x faster on it
    taps = {k: v[rows].float().contiguous(memory_format=torch.channels_last) for k, v in data.taps.items()}
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        taps = net.tuned_taps(taps)
        out = net.heads_from_taps(taps)
    out = type(out)(*(t.float() for t in out))
    # where each batch row sits in the batch, for the boxes that belong to it
    position = torch.full((len(data),), -1, dtype=torch.long)
    position[rows] = torch.arange(len(rows))
    in_reg = position[data.reg_sample] >= 0
    rb = position[data.reg_sample[in_reg]]
    cell = data.reg_cell[in_reg]
    weight = data.reg_weight[in_reg][:, None]
    norm = weight.sum().clamp(min=1.0)  # a weighted mean over cells
    size = out.size.flatten(2)[rb, :, cell]  # (r, 2)
    offset = out.offset.flatten(2)[rb, :, cell]
    losses = {
        "heatmap": focal_loss(out.heatmap, data.heatmap[rows]),
        "size": (weight * (size - data.reg_size[in_reg]).abs()).sum() / norm,
        "offset": (weight * (offset - data.reg_offset[in_reg]).abs()).sum() / norm,
        "mask": F.binary_cross_entropy_with_logits(out.mask, data.mask[rows]),
        "mask_overlap": soft_overlap_loss(out.mask, data.mask[rows]),
    }
    in_batch = position[data.box_sample] >= 0
    b = position[data.box_sample[in_batch]]
    target = data.box_embedding[in_batch]
    known = target.norm(dim=1) > 0
    if known.any():
        xyxy = data.box_xyxy[in_batch][known]
        wh = (xyxy[:, 2:] - xyxy[:, :2]).repeat(1, 2)
        jitter = (torch.rand(xyxy.shape, generator=gen) * 2 - 1) * ROI_JITTER * wh
        rois = torch.cat((b[known, None].float(), xyxy + jitter), dim=1)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            emb = net.embed(out.features, rois)
        losses["embedding"] = (1 - (emb * target[known]).sum(dim=1)).mean()
    else:
        losses["embedding"] = out.features.new_zeros(())
    if data.tag_reference is not None:
        reference = data.tag_reference[rows]
        mine = imagenet_log_probs(net, taps["c5"])
        losses["tags"] = (reference.exp() * (reference - mine)).sum(dim=1).mean()
    losses["total"] = sum(getattr(weights, k) * v for k, v in losses.items())
    return losses


def imagenet_log_probs(net: UnifiedNet, c5: torch.Tensor) -> torch.Tensor:
    """The backbone's (frozen) ImageNet classifier on c5 features -> (B, 1000) log-probabilities,
    float32."""
    return F.log_softmax(net.backbone.classifier(torch.flatten(c5.float().mean(dim=(2, 3)), 1)), dim=1)
