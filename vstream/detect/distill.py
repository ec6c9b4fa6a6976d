"""Distillation of the unified network from the teacher models on real video and still images.

    videos, images ─▶ frames at sample_fps (an image is one frame) ─┬─▶ teacher (once, cached) ─▶ boxes, classes, embeddings
                                    └─▶ train frames only (time-block split, `video_samples`)
    each epoch, each training frame ─▶ a new augmented view (`augment`: zoom in and out, shift,
    mirror, colour, blur, JPEG) ─▶ backbone ─▶ c3/c4/c5 ─▶ Adam on FPN + detection, mask
    and embedding heads (and the backbone's upper layers from `tuned_from`, at a tenth of the
    rate) ─▶ safetensors checkpoint (`checkpoint.save_unified`)

Augmented views, not the frames as they are: a student must not learn one camera's framing,
sensor or encoder (docs/models.md measures it against the shipped student). The un-augmented
frames and their mirror images (their backbone features computed once and cached) give the
loss before and after.

A still image is a source of one frame, never held out, drawn `still_repeats` times an epoch (a
new view each time): a handful of photographs (streets, cars, animals, no one in them) then weigh
against minutes of video, which is how the student learns what is not a person without the
footage to show it. Batches are by frame size (each video's at its own aspect ratio); a
photograph's views are drawn at the size of the video nearest its aspect ratio, so they share
that video's batches.

What each training frame brings (features, views' sources, masks): `vstream.detect.distill_sources`;
targets and losses: `vstream.detect.distill_loss`.

The backbone is frozen (eval-mode BatchNorm from construction) below `tuned_from` (all of it by
default): each view costs one pass of the frozen layers without gradients, and of the tuned ones
with. Tuned layers also learn to keep the ImageNet classifier's output (the scene tags) what the
wheel's layers give (`distill_loss`). Deterministic for a seed.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import math
import pathlib
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

import cv2
import numpy as np
import torch

from vstream.detect.analysis import FrameModel
from vstream.detect.augment import Augmentation, augment as augment_view
from vstream.detect.checkpoint import backbone_sha256, load_weights, read_checkpoint_file, save_unified
from vstream.detect.distill_loss import (
    LossWeights, TrainSet, batch_loss, build_train_set, flip_boxes, imagenet_log_probs,
)
from vstream.detect.distill_sources import (
    AUGMENT_MAX_SIDE, augmentation_sources, backbone_taps, nearest_aspect, teacher_masks,
)
from vstream.detect.labels import CLASS_NAMES
from vstream.detect.mobilenet import preprocess
from vstream.detect.network import MASK_STRIDE, UnifiedNet
from vstream.detect.person_faces import face_rule_people
from vstream.detect.unified_model import LARGE_SOURCE_SCALE, analysis_frame_size
from vstream.detect.teacher_cache import cache_key, default_cache_dir, teacher_detections
from vstream.detect.teachers.selfie_segmentation import SelfieSegmenter
from vstream.detect.video_samples import (
    HOLDOUT_BLOCK_S, HOLDOUT_EVERY, is_still_image, sample_frames, source_size,
)
from vstream.detections import Detections

log = logging.getLogger(__name__)

#: Adam's rate for new heads, and for a run that starts from a checkpoint's (`distill`)
NEW_HEADS_LR = 3e-3
START_FROM_LR = 3e-4
#: the tuned backbone layers' learning rate, as a share of the heads'
TUNED_LR_SCALE = 0.1
#: heads (`UnifiedNet` modules) a run from a checkpoint can make anew and train alone (`distill`)
RETRAINABLE = ("detect", "mask", "embed")


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


def _augmented_batch_loss(net: UnifiedNet, batch: list[tuple[np.ndarray, Detections, np.ndarray]],
                          size: tuple[int, int], rng: np.random.Generator, aug: Augmentation,
                          weights: LossWeights, gen: torch.Generator, bf16: bool,
                          wheel: UnifiedNet | None) -> dict[str, torch.Tensor]:
    """The loss of one new augmented view at `size` of each (frame, teacher boxes, teacher mask)
    of `batch`: the frozen layers run on the views (no gradient), the heads and tuned layers
    learn from them. `wheel`: the untrained network whose tuned layers are still the wheel's,
    for the tags' reference (None when nothing is tuned)."""
    views = [augment_view(image, d, mask, size, rng, aug) for image, d, mask in batch]
    reference = None
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = net.frozen_taps(preprocess(np.stack([v.image for v in views]), None))
        taps = {name: value.float() for name, value in out.items()}
        if wheel is not None:
            reference = imagenet_log_probs(wheel, wheel.tuned_taps(taps)["c5"])
    data = build_train_set(taps, [v.boxes for v in views], [v.mask for v in views], len(net.classes), size,
                           net.mask_stride, reference)
    return batch_loss(net, data, torch.arange(len(views)), weights, gen, bf16)


def _mean_loss(net: UnifiedNet, sets: list[TrainSet], weights: LossWeights, seed: int,
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
                total += float(batch_loss(net, data, rows, weights, gen, bf16)["total"]) * len(rows)
    net.train(was_training)
    return total / sum(len(data) for data in sets)


def _epoch_batches(counts: list[int], batch_size: int, gen: torch.Generator
                   ) -> list[tuple[int, list[int]]]:
    """One epoch's batches as (group, rows): each batch from one group of sources (frames of one
    size), rows shuffled within each group and batches shuffled across groups."""
    batches = []
    for group, n in enumerate(counts):
        order = torch.randperm(n, generator=gen).tolist()
        batches += [(group, order[i:i + batch_size]) for i in range(0, n, batch_size)]
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
    lr: float | None = None,
    max_frames: int | None = None,
    cache_dir: pathlib.Path | None = None,
    weights: LossWeights = LossWeights(),
    channels: int = 64,
    score_threshold: float | Sequence[float] = (0.2, 0.15),
    tuned_from: int | None = None,
    start_from: str | pathlib.Path | None = None,
    bf16: bool = False,
    augment: Augmentation = Augmentation(),
    still_repeats: int = 8,
    segmenter: SelfieSegmenter | None = None,
    retrain: Sequence[str] = (),
) -> DistillResult:
    """Train the unified heads on the teacher's outputs for the training frames of `videos`
    (held-out time blocks excluded; a still image is a video of one frame) and save a checkpoint
    to `out_path`.

    sample_fps: frames per second of video taken (the teacher runs once per sampled frame and its
    outputs are cached in `cache_dir`, default `teacher_cache.default_cache_dir()`);
    max_frames: take at most this many frames per video (quick runs); epochs over all training
    frames and their mirror images, Adam at `lr` (default `NEW_HEADS_LR`, or `START_FROM_LR`
    with `start_from`) with cosine decay; `seed` fixes the head
    initialisation, batch order and box jitter; `score_threshold` is stored as the checkpoint's
    default detection threshold (one value, or one per class); `bf16`: run the frozen backbone
    and the heads' forward/backward under bfloat16 autocast (weights and Adam stay float32), ~2-3x
    faster, but off by default: MobileNetV2's bf16 features differ from fp32 ones by 12-18% (mean
    relative error of c3..c5, measured on the test video), and the runtime is fp32 by default (an
    early run trained on bf16 features found only a quarter of the faces of its own training
    frames at fp32). The backbone features are cached in `cache_dir` too. `augment`: how each
    epoch's views of the training frames are drawn (`augment.Augmentation`); `still_repeats`:
    views of each still image an epoch; `segmenter`: the person-mask teacher (default MediaPipe's
    selfie segmentation, run with the teacher's person boxes; its masks cached in `cache_dir`
    too). `tuned_from`: train the backbone's layers from `features[tuned_from]` on too (at
    `lr` / 10; `UnifiedNet`), None to keep it frozen. `start_from`: a checkpoint whose trained
    weights the run starts from (the shipped student, to adapt it to new footage in a few epochs,
    or to tune its backbone) instead of new heads; its default rate is a tenth of new heads':
    Adam's first steps move every weight by about the rate, which at new heads' undid the
    checkpoint (training loss 2.6 -> 15.5 after one step). Each video is analysed at the network's
    `frame_size` of it (its own aspect ratio), as at run time. `retrain`: heads of `start_from`
    (`RETRAINABLE`) made anew, as new networks have them (the mask at `MASK_STRIDE`), and trained
    alone, at new heads' rate by default; every other weight stays the checkpoint's, backbone
    layers it tuned included: a better head for a network without moving its boxes, faces or
    identities.
    """
    bf16 = bool(bf16)
    segmenter = segmenter or SelfieSegmenter()
    start = time.perf_counter()
    if epochs < 1 or batch_size < 1 or still_repeats < 1:
        raise ValueError(f"epochs, batch_size and still_repeats must be >= 1, got {epochs}, "
                         f"{batch_size}, {still_repeats}")
    retrain = tuple(retrain)
    if set(retrain) - set(RETRAINABLE) or (retrain and start_from is None):
        raise ValueError(f"retrain takes heads of a start_from checkpoint ({', '.join(RETRAINABLE)}), "
                         f"got {retrain or None} with start_from {start_from}")
    if lr is None:
        lr = NEW_HEADS_LR if start_from is None or retrain else START_FROM_LR
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    initial = read_checkpoint_file(start_from) if start_from is not None else None
    if retrain:  # the checkpoint's network as it is, less the heads made anew
        tuned_from = initial.tuned_from
        initial = replace(initial, state={
            k: v for k, v in initial.state.items() if k.split(".")[0] not in retrain})
    # a run from a checkpoint keeps its mask grid (a checkpoint made before 2026-12-04: stride 8)
    new_mask = initial is None or "mask" in retrain
    net = UnifiedNet(CLASS_NAMES, channels=channels, tuned_from=tuned_from,
                     mask_stride=MASK_STRIDE if new_mask else initial.mask_stride
                     ).to(memory_format=torch.channels_last)
    # the tags' reference: a copy whose tuned layers stay the wheel's
    wheel = copy.deepcopy(net).requires_grad_(False) if tuned_from is not None else None
    if initial is not None:
        if "mask" in retrain:
            initial = replace(initial, mask_stride=net.mask_stride)
        load_weights(net, initial, exact=False)
        log.info("starting from %s (%s)%s", initial.path, initial.model_version,
                 f", training only its new {', '.join(retrain)}" if retrain else "")
        if retrain:
            net.requires_grad_(False)
            for name in retrain:
                getattr(net, name).requires_grad_(True)
    cache_dir = default_cache_dir() if cache_dir is None else pathlib.Path(cache_dir)
    sets: list[TrainSet] = []  # per video: its training frames as they are, and mirrored
    # per frame size: what views are cut from, a still image `still_repeats` times
    groups: dict[tuple[int, int], list[tuple[np.ndarray, Detections, np.ndarray]]] = {}
    stills: list[tuple[tuple[int, int], list[tuple[np.ndarray, Detections, np.ndarray]]]] = []
    train_frames = 0
    teacher_counts = np.zeros(len(CLASS_NAMES), np.int64)
    held_out = 0
    for video in videos:
        size = analysis_frame_size(*source_size(video))
        frames = sample_frames(video, sample_fps, size, max_frames=max_frames)
        truth = teacher_detections(frames, teacher, cache_dir, max_frames)
        train = np.flatnonzero(~frames.held_out)
        held_out += int(frames.held_out.sum())
        log.info("%s: %d sampled frames at %dx%d, %d for training", frames.video.name,
                 len(frames), *size, len(train))
        if not len(train):
            continue
        # "bn-eval": features cached before the backbone was frozen in eval mode from the
        # start (`UnifiedNet`) were normalised by batch statistics; never reuse them. "c2":
        # caches from before the stride-4 mask lack the tap it reads
        key = hashlib.sha256(f"{cache_key(frames, teacher, max_frames)}|{backbone_sha256()}|{bf16}|bn-eval|c2"
                             f"{'' if tuned_from is None else f'|tuned-from-{tuned_from}'}".encode())
        cache = cache_dir / f"{frames.video.stem}-{key.hexdigest()[:16]}-backbone.npz"
        rows = [truth[i] for i in train]
        sources = augmentation_sources(frames, train, rows)
        mask_key = hashlib.sha256(f"{cache_key(frames, teacher, max_frames)}|{segmenter.model_version}|"
                                  f"{AUGMENT_MAX_SIDE}".encode()).hexdigest()[:16]
        # the masks are segmented around every person, those the face rule boxed included
        masks = teacher_masks(sources, segmenter, cache_dir / f"{frames.video.stem}-{mask_key}-masks.npz")
        # the person heatmap learns bodies: a head-and-shoulders box is the face rule's, which
        # the student applies to its own faces at run time; learnt, it is a second, smaller
        # peak inside the body of the same close-up where the body detector found it
        bodies = [~face_rule_people(d.xyxy, d.confidence, d.class_id, *size) for d in rows]
        rows = [d[keep] for d, keep in zip(rows, bodies, strict=True)]
        sources = [(image, d[keep]) for (image, d), keep in zip(sources, bodies, strict=True)]
        for d in rows:
            teacher_counts += np.bincount(d.class_id, minlength=len(CLASS_NAMES))[: len(CLASS_NAMES)]
        # the masks at the size the cached features were computed at, then mirrored as they are
        at_size = [cv2.resize(m, size, interpolation=cv2.INTER_AREA) for m in masks]
        taps, tag_reference = backbone_taps(net, frames.images[train], bf16, cache)
        sets.append(build_train_set(taps, [*rows, *(flip_boxes(d, size[0]) for d in rows)],
                                    [*at_size, *(np.ascontiguousarray(m[:, ::-1]) for m in at_size)],
                                    len(CLASS_NAMES), size, net.mask_stride, tag_reference))
        views_from = [(image, d, mask) for (image, d), mask in zip(sources, masks, strict=True)]
        if is_still_image(video):
            stills.append((size, views_from * still_repeats))
        else:
            groups.setdefault(size, []).extend(views_from)
        train_frames += len(views_from)
    for size, views_from in stills:
        groups.setdefault(nearest_aspect(size, list(groups)), []).extend(views_from)
    sizes, sources = list(groups), list(groups.values())
    if not train_frames:
        raise ValueError("no training frames: give longer videos, a higher sample_fps or more max_frames")
    rng = np.random.default_rng(seed)

    # pretrained layers move at a tenth of the rate of the new heads
    tuned = [p for p in net.backbone.parameters() if p.requires_grad]
    heads = [p for name, p in net.named_parameters() if p.requires_grad and not name.startswith("backbone.")]
    optimizer = torch.optim.Adam([{"params": heads, "lr": lr}, {"params": tuned, "lr": lr * TUNED_LR_SCALE}])
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
            losses = _augmented_batch_loss(net, batch, sizes[v], rng, augment, weights, gen, bf16, wheel)
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
        "tuned_from": tuned_from,
        "start_from": None if start_from is None else initial.model_version,
        "retrained": list(retrain),
        "augmentation": asdict(augment), "still_repeats": still_repeats,
        "train_frames": train_frames, "held_out_frames": held_out,
        "held_out_rule": f"{HOLDOUT_BLOCK_S:g}-s blocks with index % {HOLDOUT_EVERY} == {HOLDOUT_EVERY - 1}",
        "teacher": teacher.model_version, "mask_teacher": segmenter.model_version,
        "teacher_train_boxes": dict(zip(CLASS_NAMES, teacher_counts.tolist())),
        "final_losses": epoch_losses[-1],
        "loss_before": round(loss_before, 5), "loss_after": round(loss_after, 5),
        "score_thresholds": thresholds.tolist(),
        "large_source_scale": LARGE_SOURCE_SCALE,
    }
    out_path = pathlib.Path(out_path)
    version = save_unified(net, out_path, training=summary)
    seconds = time.perf_counter() - start
    log.info("saved %s (%s) after %.0f s", out_path, version, seconds)
    return DistillResult(out_path, version, train_frames, held_out, epoch_losses, loss_before, loss_after,
                         seconds)
