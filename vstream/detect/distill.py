"""Distillation of the unified network from the teacher models on real video.

    videos ─▶ frames at sample_fps ─┬─▶ teacher (once, cached) ─▶ boxes, classes, embeddings
                                    └─▶ train frames only (time-block split, `video_samples`)
    each epoch, each training frame ─▶ a new augmented view (`augment`: zoom in and out, shift,
    mirror, colour, blur, JPEG) ─▶ frozen backbone ─▶ c3/c4/c5 ─▶ Adam on FPN + detection, mask
    and embedding heads ─▶ safetensors checkpoint (`checkpoint.save_unified`)

Augmented views, not the frames as they are: a student must not learn one camera's framing,
sensor or encoder (docs/models.md has the numbers). The un-augmented frames and their mirror
images (their backbone features computed once and cached) give the loss before and after.

Losses (weights in `LossWeights`):
- heatmap: CenterNet's penalty-reduced focal loss on Gaussian heatmaps, per positive;
- size, offset: L1 at the centre cell of each teacher box (log size in cells, offset in cells)
  and, weighted by the heatmap Gaussian, at the 8 cells around it (a peak one cell off then
  still decodes the right box; the centre cell alone left boxes short even on training frames);
- mask: BCE of the person mask logits against the teacher person boxes filled (a cell is in a
  person when its centre lies in one of the boxes; the boxes are head-and-shoulders or SSDLite
  bodies, so the mask is boxy: it says where people are, not their outline);
- embedding: 1 - cosine between the embedding of a teacher box (RoIAlign on that box, jittered
  by up to 10% of its size so the head sees boxes as imprecise as its own detections) and the
  teacher's embedding, for faces and for person boxes whose teacher embedding is non-zero (a
  body crop learns the identity of the face inside it). A flipped frame keeps the unflipped
  target: a person's identity does not change in a mirror (dlib's vector moves a little).

The backbone is frozen (eval-mode BatchNorm): without augmentation its features are computed
once per frame and flip and reused every epoch; with it, each view costs one backbone pass
without gradients. Deterministic for a seed.
"""

from __future__ import annotations

import hashlib
import logging
import math
import pathlib
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from vstream.detect.analysis import EMBED_DIM, FrameModel, keep_aspect_size
from vstream.detect.augment import Augmentation, augment as augment_view
from vstream.detect.centernet import MIN_SIGMA, CenterTargets, encode_targets
from vstream.detect.checkpoint import backbone_sha256, save_unified
from vstream.detect.labels import CLASS_NAMES, PERSON
from vstream.detect.mobilenet import preprocess
from vstream.detect.network import STRIDE, UnifiedModel, UnifiedNet
from vstream.detect.teacher_cache import cache_key, default_cache_dir, teacher_detections
from vstream.detect.video_samples import (
    HOLDOUT_BLOCK_S, HOLDOUT_EVERY, SampledFrames, iter_samples, sample_frames, source_size,
)
from vstream.detections import Detections

log = logging.getLogger(__name__)

#: frames per backbone pass when caching features
_FEATURE_BATCH = 16
#: longest side of the frames views are cut from (a larger source is scaled down to it first)
AUGMENT_MAX_SIDE = 768
#: largest random shift of each edge of a box given to the embedding head, as a fraction of its side
_ROI_JITTER = 0.1


class LossWeights(NamedTuple):
    """Weights of the loss terms (the defaults, the shipped checkpoint's, bring each to a similar
    size early in training)."""

    heatmap: float = 1.0
    size: float = 1.0
    offset: float = 1.0
    mask: float = 1.0
    embedding: float = 2.0


@dataclass(frozen=True)
class DistillResult:
    """What a distillation run made."""

    path: pathlib.Path
    model_version: str
    train_frames: int
    held_out_frames: int
    epoch_losses: list[dict[str, float]] = field(default_factory=list)
    loss_before: float = float("nan")  # mean total loss over all training rows, before training
    loss_after: float = float("nan")  # the same after training (same boxes, same jitter)
    seconds: float = 0.0


@dataclass
class _TrainSet:
    """Cached backbone taps and teacher targets, one row per (frame, flip)."""

    taps: dict[str, torch.Tensor]  # name -> (N, C, h, w) float16
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

    def __len__(self) -> int:
        return len(self.heatmap)


def _flip(dets: Detections, width: int) -> Detections:
    xyxy = dets.xyxy.copy()
    xyxy[:, 0], xyxy[:, 2] = width - dets.xyxy[:, 2], width - dets.xyxy[:, 0]
    return Detections(xyxy, dets.confidence, dets.class_id, embedding=dets.embedding)


def _person_mask(dets: Detections, grid: tuple[int, int]) -> np.ndarray:
    h, w = grid
    cy = (np.arange(h) + 0.5) * STRIDE
    cx = (np.arange(w) + 0.5) * STRIDE
    mask = np.zeros((h, w), np.float32)
    for x1, y1, x2, y2 in dets.xyxy[dets.class_id == PERSON]:
        inside = ((cy[:, None] >= y1) & (cy[:, None] <= y2)) & ((cx[None, :] >= x1) & (cx[None, :] <= x2))
        if not inside.any():  # smaller than a cell: its centre cell
            inside[min(int((y1 + y2) / 2 / STRIDE), h - 1), min(int((x1 + x2) / 2 / STRIDE), w - 1)] = True
        mask[inside] = 1.0
    return mask


def _backbone_taps(net: UnifiedNet, images: np.ndarray, bf16: bool,
                   cache: pathlib.Path | None) -> dict[str, torch.Tensor]:
    """c3/c4/c5 of `images` and then of their mirror images (2n rows), float16 in memory (half
    of float32's, 3 more mantissa bits than bfloat16), from the npy cache file when there."""
    if cache is not None and cache.is_file():
        with np.load(cache) as z:
            if z["c3"].shape[0] == 2 * len(images):
                return {k: torch.from_numpy(z[k]) for k in ("c3", "c4", "c5")}
    taps: dict[str, list[torch.Tensor]] = {"c3": [], "c4": [], "c5": []}
    start = time.perf_counter()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for flip in (False, True):
            batch_images = np.ascontiguousarray(images[:, :, ::-1]) if flip else images
            for i in range(0, len(images), _FEATURE_BATCH):
                out = net.backbone.forward_features(preprocess(batch_images[i:i + _FEATURE_BATCH], None))
                for name in taps:
                    taps[name].append(out[name].float().contiguous().half())
    result = {k: torch.cat(v) for k, v in taps.items()}
    log.info("backbone features of %d frames x 2 flips in %.0f s", len(images), time.perf_counter() - start)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, **{k: v.numpy() for k, v in result.items()})
        tmp.replace(cache)
    return result


def _build_train_set(taps: dict[str, torch.Tensor], rows: list[Detections], n_classes: int,
                     size: tuple[int, int]) -> _TrainSet:
    """Targets for `rows` (one teacher's detections per image, in pixels of images of `size`),
    in the order of the `taps` rows."""
    width, height = size
    grid = (math.ceil(height / STRIDE), math.ceil(width / STRIDE))
    heat, masks = [], []
    box: dict[str, list[np.ndarray]] = {k: [np.zeros(0, np.int64)] if k == "sample" else
                                        [np.zeros((0, 4 if k == "xyxy" else EMBED_DIM), np.float32)]
                                        for k in ("sample", "xyxy", "emb")}
    reg: dict[str, list[np.ndarray]] = {"sample": [np.zeros(0, np.int64)], "cell": [np.zeros(0, np.int64)],
                                        "size": [np.zeros((0, 2), np.float32)],
                                        "offset": [np.zeros((0, 2), np.float32)],
                                        "weight": [np.zeros(0, np.float32)]}
    for r, d in enumerate(rows):
        t = encode_targets(d.xyxy, d.class_id, n_classes, grid, STRIDE)
        heat.append(t.heatmap)
        masks.append(_person_mask(d, grid)[None])
        box["sample"].append(np.full(len(d), r, np.int64))
        box["xyxy"].append(d.xyxy.astype(np.float32))
        emb = d.embedding if d.embedding is not None else np.zeros((len(d), EMBED_DIM), np.float32)
        norm = np.linalg.norm(emb, axis=1, keepdims=True)
        box["emb"].append(np.where(norm > 0, emb / np.maximum(norm, 1e-12), 0.0).astype(np.float32))
        for k in range(len(d)):
            cells, offsets, weights = _regression_cells(t, k, d.xyxy[k], grid)
            reg["sample"].append(np.full(len(cells), r, np.int64))
            reg["cell"].append(cells)
            reg["size"].append(np.repeat(t.size[k:k + 1], len(cells), axis=0).astype(np.float32))
            reg["offset"].append(offsets)
            reg["weight"].append(weights)
    cat = {k: torch.from_numpy(np.concatenate(v)) for k, v in box.items()}
    rc = {k: torch.from_numpy(np.concatenate(v)) for k, v in reg.items()}
    return _TrainSet(
        taps, torch.from_numpy(np.stack(heat)), torch.from_numpy(np.stack(masks)), rc["sample"],
        rc["cell"], rc["size"], rc["offset"], rc["weight"], cat["sample"], cat["xyxy"], cat["emb"],
    )


def _regression_cells(t: CenterTargets, k: int, xyxy: np.ndarray, grid: tuple[int, int]
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells that learn box k's size and offset: its centre cell and the 8 around it, so a peak
    one cell off still decodes the right box. Neighbours are weighted by the heatmap Gaussian."""
    h, w = grid
    iy, ix = divmod(int(t.index[k]), w)
    cx, cy = ix + t.offset[k, 0], iy + t.offset[k, 1]
    bw = max(xyxy[2] - xyxy[0], 1.0) / STRIDE
    bh = max(xyxy[3] - xyxy[1], 1.0) / STRIDE
    sx, sy = max(bw / 6, MIN_SIGMA), max(bh / 6, MIN_SIGMA)
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


def _augmentation_sources(frames: SampledFrames, train: np.ndarray, truth: list[Detections]
                          ) -> list[tuple[np.ndarray, Detections]]:
    """The training frames `train` of `frames` decoded again at up to `AUGMENT_MAX_SIDE` (their
    own aspect ratio, small videos scaled up to the analysis area), with the teacher's boxes
    `truth` (in `frames`' pixels) scaled to them: a view zoomed in on a 768x576 camera then has
    its real detail."""
    height, width = frames.images.shape[1:3]
    size = keep_aspect_size(*source_size(frames.video), width * height, AUGMENT_MAX_SIDE)
    scale = np.array([size[0] / width, size[1] / height] * 2, np.float32)
    wanted = set(train.tolist())
    out = []
    for i, (t, image) in enumerate(iter_samples(frames.video, frames.sample_fps, size, len(frames))):
        if abs(t - frames.times[i]) > 1e-6:
            raise ValueError(f"{frames.video}: decoding again gave other frame times")
        if i in wanted:
            d = truth[len(out)]
            out.append((image, Detections(d.xyxy * scale, d.confidence, d.class_id,
                                          embedding=d.embedding)))
    return out


def _augmented_batch_loss(net: UnifiedNet, batch: list[tuple[np.ndarray, Detections]],
                          size: tuple[int, int], rng: np.random.Generator, aug: Augmentation,
                          weights: LossWeights, gen: torch.Generator, bf16: bool
                          ) -> dict[str, torch.Tensor]:
    """The loss of one new augmented view at `size` of each (frame, teacher boxes) of `batch`:
    the frozen backbone runs on the views (no gradient), the heads learn from them."""
    views, rows = zip(*(augment_view(image, d, size, rng, aug) for image, d in batch))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = net.backbone.forward_features(preprocess(np.stack(views), None))
    taps = {name: out[name].float() for name in ("c3", "c4", "c5")}
    data = _build_train_set(taps, list(rows), len(net.classes), size)
    return _batch_loss(net, data, torch.arange(len(rows)), weights, gen, bf16)


def focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss (alpha 2, beta 4), summed and divided by the
    number of positives (cells where target == 1), at least 1."""
    p = logits.sigmoid().clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1).float()
    pos_loss = torch.log(p) * (1 - p) ** 2 * pos
    neg_loss = torch.log(1 - p) * p**2 * (1 - target) ** 4 * (1 - pos)
    return -(pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp(min=1)


def _batch_loss(net: UnifiedNet, data: _TrainSet, rows: torch.Tensor, weights: LossWeights,
                gen: torch.Generator, bf16: bool) -> dict[str, torch.Tensor]:
    # channels-last: oneDNN's convolutions (forward and backward) are ~2x faster on it
    taps = {k: v[rows].float().contiguous(memory_format=torch.channels_last) for k, v in data.taps.items()}
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
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
    }
    in_batch = position[data.box_sample] >= 0
    b = position[data.box_sample[in_batch]]
    target = data.box_embedding[in_batch]
    known = target.norm(dim=1) > 0
    if known.any():
        xyxy = data.box_xyxy[in_batch][known]
        wh = (xyxy[:, 2:] - xyxy[:, :2]).repeat(1, 2)
        jitter = (torch.rand(xyxy.shape, generator=gen) * 2 - 1) * _ROI_JITTER * wh
        rois = torch.cat((b[known, None].float(), xyxy + jitter), dim=1)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            emb = net.embed(out.features, rois)
        losses["embedding"] = (1 - (emb * target[known]).sum(dim=1)).mean()
    else:
        losses["embedding"] = out.features.new_zeros(())
    losses["total"] = sum(getattr(weights, k) * v for k, v in losses.items())
    return losses


def _mean_loss(net: UnifiedNet, sets: list[_TrainSet], weights: LossWeights, seed: int,
               bf16: bool, batch_size: int) -> float:
    """Mean total loss over all rows of `sets` in eval mode, with the roi jitter of a fixed
    seed."""
    was_training = net.training
    net.eval()
    gen = torch.Generator().manual_seed(seed)
    total = 0.0
    with torch.no_grad():
        for data in sets:
            for i in range(0, len(data), batch_size):
                rows = torch.arange(i, min(i + batch_size, len(data)))
                total += float(_batch_loss(net, data, rows, weights, gen, bf16)["total"]) * len(rows)
    net.train(was_training)
    return total / sum(len(data) for data in sets)


def _epoch_batches(counts: list[int], batch_size: int, gen: torch.Generator
                   ) -> list[tuple[int, list[int]]]:
    """One epoch's batches as (video, rows): each batch from one video (its frames share a
    size), rows shuffled within each video and batches shuffled across videos."""
    batches = []
    for video, n in enumerate(counts):
        order = torch.randperm(n, generator=gen).tolist()
        batches += [(video, order[i:i + batch_size]) for i in range(0, n, batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=gen).tolist()]


def distill(
    videos: Sequence[str | pathlib.Path],
    out_path: str | pathlib.Path,
    teacher: FrameModel,
    *,
    sample_fps: float = 4.0,
    epochs: int = 40,
    seed: int = 0,
    batch_size: int = 32,
    lr: float = 3e-3,
    max_frames: int | None = None,
    cache_dir: pathlib.Path | None = None,
    weights: LossWeights = LossWeights(),
    channels: int = 64,
    score_threshold: float | Sequence[float] = (0.2, 0.15),
    bf16: bool = False,
    augment: Augmentation = Augmentation(),
) -> DistillResult:
    """Train the unified heads on the teacher's outputs for the training frames of `videos`
    (held-out time blocks excluded) and save a checkpoint to `out_path`.

    sample_fps: frames per second of video taken (the teacher runs once per sampled frame and its
    outputs are cached in `cache_dir`, default `teacher_cache.default_cache_dir()`);
    max_frames: take at most this many frames per video (quick runs); epochs over all training
    frames and their mirror images, Adam at `lr` with cosine decay; `seed` fixes the head
    initialisation, batch order and box jitter; `score_threshold` is stored as the checkpoint's
    default detection threshold (one value, or one per class); `bf16`: run the frozen backbone
    and the heads' forward/backward under bfloat16 autocast (weights and Adam stay float32), ~2-3x
    faster, but off by default: MobileNetV2's bf16 features differ from fp32 ones by 12-18% (mean
    relative error of c3..c5, measured on the test video), and the runtime is fp32 by default (an
    early run trained on bf16 features found only a quarter of the faces of its own training
    frames at fp32). The backbone features are cached in `cache_dir` too. `augment`: how each
    epoch's views of the training frames are drawn (`augment.Augmentation`). Each video is
    analysed at the network's `frame_size` of it (its own aspect ratio), as at run time.
    """
    bf16 = bool(bf16)
    start = time.perf_counter()
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs}, {batch_size}")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = UnifiedNet(CLASS_NAMES, channels=channels).to(memory_format=torch.channels_last)
    cache_dir = default_cache_dir() if cache_dir is None else pathlib.Path(cache_dir)
    student = UnifiedModel(net, "distilling")  # only for the size it analyses each video at
    sets: list[_TrainSet] = []  # per video: its training frames as they are, and mirrored
    sources: list[list[tuple[np.ndarray, Detections]]] = []  # per video: what views are cut from
    sizes: list[tuple[int, int]] = []
    teacher_counts = np.zeros(len(CLASS_NAMES), np.int64)
    held_out = 0
    for video in videos:
        size = student.frame_size(*source_size(video))
        frames = sample_frames(video, sample_fps, size, max_frames=max_frames)
        truth = teacher_detections(frames, teacher, cache_dir, max_frames)
        train = np.flatnonzero(~frames.held_out)
        held_out += int(frames.held_out.sum())
        log.info("%s: %d sampled frames at %dx%d, %d for training", frames.video.name,
                 len(frames), *size, len(train))
        if not len(train):
            continue
        # "bn-eval": features cached before the backbone was frozen in eval mode from the
        # start (`UnifiedNet`) were normalised by batch statistics; never reuse them
        key = hashlib.sha256(f"{cache_key(frames, teacher, max_frames)}|{backbone_sha256()}|{bf16}|bn-eval"
                             .encode())
        cache = cache_dir / f"{frames.video.stem}-{key.hexdigest()[:16]}-backbone.npz"
        rows = [truth[i] for i in train]
        for d in rows:
            teacher_counts += np.bincount(d.class_id, minlength=len(CLASS_NAMES))[: len(CLASS_NAMES)]
        sets.append(_build_train_set(_backbone_taps(net, frames.images[train], bf16, cache),
                                     [*rows, *(_flip(d, size[0]) for d in rows)], len(CLASS_NAMES),
                                     size))
        sources.append(_augmentation_sources(frames, train, rows))
        sizes.append(size)
    train_frames = sum(len(v) for v in sources)
    if not train_frames:
        raise ValueError("no training frames: give longer videos, a higher sample_fps or more max_frames")
    rng = np.random.default_rng(seed)

    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)
    steps = epochs * sum(math.ceil(len(v) / batch_size) for v in sources)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(s / steps, 1.0))))
    loss_before = _mean_loss(net, sets, weights, seed, bf16, batch_size)
    net.train()
    epoch_losses: list[dict[str, float]] = []
    for epoch in range(epochs):
        t0 = time.perf_counter()
        sums: dict[str, float] = {}
        n_batches = 0
        for v, rows_of_batch in _epoch_batches([len(s) for s in sources], batch_size, gen):
            batch = [sources[v][j] for j in rows_of_batch]
            losses = _augmented_batch_loss(net, batch, sizes[v], rng, augment, weights, gen, bf16)
            optimizer.zero_grad(set_to_none=True)
            losses["total"].backward()
            optimizer.step()
            schedule.step()
            for k, val in losses.items():
                sums[k] = sums.get(k, 0.0) + float(val.detach())
            n_batches += 1
        mean = {k: round(val / n_batches, 5) for k, val in sums.items()}
        epoch_losses.append(mean)
        log.info("epoch %d/%d: %s (%.1f s)", epoch + 1, epochs, mean, time.perf_counter() - t0)
    loss_after = _mean_loss(net, sets, weights, seed, bf16, batch_size)
    log.info("mean training loss %.4f before, %.4f after", loss_before, loss_after)
    net.eval()
    thresholds = np.broadcast_to(np.asarray(score_threshold, np.float64), (len(CLASS_NAMES),))
    summary = {
        "videos": [pathlib.Path(v).name for v in videos],
        "sample_fps": sample_fps, "max_frames": max_frames, "epochs": epochs, "seed": seed,
        "batch_size": batch_size, "lr": lr, "bf16": bf16, "loss_weights": weights._asdict(),
        "augmentation": asdict(augment), "train_frames": train_frames, "held_out_frames": held_out,
        "held_out_rule": f"{HOLDOUT_BLOCK_S:g}-s blocks with index % {HOLDOUT_EVERY} == {HOLDOUT_EVERY - 1}",
        "teacher": teacher.model_version,
        "teacher_train_boxes": dict(zip(CLASS_NAMES, teacher_counts.tolist())),
        "final_losses": epoch_losses[-1],
        "loss_before": round(loss_before, 5), "loss_after": round(loss_after, 5),
        "score_thresholds": thresholds.tolist(),
    }
    out_path = pathlib.Path(out_path)
    version = save_unified(net, out_path, training=summary)
    seconds = time.perf_counter() - start
    log.info("saved %s (%s) after %.0f s", out_path, version, seconds)
    return DistillResult(out_path, version, train_frames, held_out, epoch_losses, loss_before, loss_after,
                         seconds)
