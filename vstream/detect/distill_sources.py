"""What each training frame of a distillation brings (`vstream.detect.distill`): the frozen
backbone's features of it and its mirror image (cached), the frame decoded again larger for the
augmented views, the segmentation teacher's person mask (cached), and, for a photograph, the
video batches it joins.
"""

from __future__ import annotations

import logging
import math
import pathlib
import time

import numpy as np
import torch

from vstream.detect.analysis import keep_aspect_size
from vstream.detect.distill_loss import imagenet_log_probs
from vstream.detect.labels import FACE, PERSON
from vstream.detect.mobilenet import preprocess
from vstream.detect.network import UnifiedNet
from vstream.detect.teachers.selfie_segmentation import SelfieSegmenter
from vstream.detect.video_samples import SampledFrames, iter_samples, source_size
from vstream.detections import Detections

log = logging.getLogger(__name__)

#: frames per backbone or segmentation pass when caching
FEATURE_BATCH = 16
#: key of the tags' reference beside the cached taps
TAG_REFERENCE = "tag_reference"
#: longest side of the frames views are cut from (a larger source is scaled down to it first)
AUGMENT_MAX_SIDE = 768


def backbone_taps(net: UnifiedNet, images: np.ndarray, bf16: bool, cache: pathlib.Path | None
                   ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """The frozen layers' taps (`UnifiedNet.frozen_taps`) of `images` and then of their mirror
    images (2n rows), float16 in memory (half of float32's, 3 more mantissa bits than bfloat16),
    and, when layers are tuned, the wheel's ImageNet log-probabilities of the same rows (computed
    before training, the tuned layers still the wheel's); from the npz cache file when there."""
    if cache is not None and cache.is_file():
        with np.load(cache) as z:
            if all(z[k].shape[0] == 2 * len(images) for k in z.files):
                loaded = {k: torch.from_numpy(z[k]) for k in z.files}
                return loaded, loaded.pop(TAG_REFERENCE, None)
    taps: dict[str, list[torch.Tensor]] = {}
    start = time.perf_counter()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for flip in (False, True):
            batch_images = np.ascontiguousarray(images[:, :, ::-1]) if flip else images
            for i in range(0, len(images), FEATURE_BATCH):
                out = net.frozen_taps(preprocess(batch_images[i:i + FEATURE_BATCH], None))
                for name, value in out.items():
                    taps.setdefault(name, []).append(value.float().contiguous().half())
                if net.tuned_from is not None:
                    c5 = net.tuned_taps({k: v.float() for k, v in out.items()})["c5"]
                    taps.setdefault(TAG_REFERENCE, []).append(imagenet_log_probs(net, c5))
    result = {k: torch.cat(v) for k, v in taps.items()}
    log.info("backbone features of %d frames x 2 flips in %.0f s", len(images), time.perf_counter() - start)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, **{k: v.numpy() for k, v in result.items()})
        tmp.replace(cache)
    return result, result.pop(TAG_REFERENCE, None)


def augmentation_sources(frames: SampledFrames, train: np.ndarray, truth: list[Detections]
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


def teacher_masks(sources: list[tuple[np.ndarray, Detections]], segmenter: SelfieSegmenter,
                   cache: pathlib.Path) -> list[np.ndarray]:
    """The segmentation teacher's uint8 person mask (probability * 255) of each source frame,
    run with the frame's teacher person and face boxes; from the npz cache file when there."""
    if cache.is_file():
        with np.load(cache) as z:
            if len(z["masks"]) == len(sources):
                return list(z["masks"])
    start = time.perf_counter()
    masks: list[np.ndarray] = []
    for i in range(0, len(sources), FEATURE_BATCH):
        batch = sources[i:i + FEATURE_BATCH]
        probs = segmenter.segment(np.stack([image for image, _ in batch]),
                                  [d.xyxy[d.class_id == PERSON] for _, d in batch],
                                  [d.xyxy[d.class_id == FACE] for _, d in batch])
        masks.extend(np.round(probs * 255).astype(np.uint8))
    log.info("person masks of %d frames in %.0f s", len(sources), time.perf_counter() - start)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, masks=np.stack(masks) if masks else np.zeros((0, 1, 1), np.uint8))
    tmp.replace(cache)
    return masks


def nearest_aspect(size: tuple[int, int], sizes: list[tuple[int, int]]) -> tuple[int, int]:
    """The one of `sizes` (the videos' frame sizes) whose aspect ratio is nearest `size`'s, or
    `size` when there are none. Photographs join a video's batches at its size (their views
    squeezed a little) rather than batch alone: an optimizer step on eight views of one
    photograph weighs as much as a step on 32 frames of video, and a run that gave each
    photograph its own batches learnt a flat heatmap that fired everywhere (docs/models.md)."""
    if not sizes:
        return size
    return min(sizes, key=lambda s: abs(math.log((s[0] / s[1]) / (size[0] / size[1]))))
