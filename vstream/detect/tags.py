"""Frame tags: a readable vocabulary over the ImageNet classifier of the MobileNetV2 backbone.

`data/tag_map.json` maps each tag to the ImageNet classes that evidence it, in two groups:
"object" (a thing in view: "dog" <- the 118 dog breeds, "guitar" <- acoustic and electric
guitar) and "scene" (where: "stage" <- stage, theater curtain; "outdoor" <- alp, seashore,
bridges, ...). Only what ImageNet classes honestly show is a tag: there is no "person" (ImageNet
has no person class) and no "night". A tag's score is the sum of the softmax probabilities of
its classes; tags overlap (lakeside counts for "outdoor" and "water"), so scores of different
tags do not sum to 1.

Classes are named by first lemma or synset id (`vstream.detect.imagenet.class_index`); the map
is validated when loaded, so a typo fails loudly instead of silently never firing.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import torch

from vstream.detect.analysis import linear_scale_over
from vstream.detect.imagenet import NUM_CLASSES, class_index
from vstream.detect.mobilenet import MobileNetV2, load_mobilenet_v2, preprocess

TAG_KINDS = ("object", "scene")


class TagMap(NamedTuple):
    """Tags in file order, each tag's kind, and the (1000, n_tags) 0/1 class-to-tag matrix."""

    tags: tuple[str, ...]
    kinds: tuple[str, ...]
    matrix: np.ndarray  # float32 (NUM_CLASSES, len(tags)); scores = probabilities @ matrix


def parse_tag_map(data: Mapping[str, Mapping[str, Sequence[str]]]) -> TagMap:
    """Validate `{"object": {tag: [class, ...]}, "scene": {...}}` and build its TagMap.

    Raises ValueError naming the tag for: an unknown or ambiguous class name, an unknown kind,
    a tag with no classes, a class listed twice in one tag, or a tag defined in both kinds.
    """
    unknown = set(data) - set(TAG_KINDS)
    if unknown:
        raise ValueError(f"tag map kinds must be among {TAG_KINDS}, got {sorted(unknown)}")
    tags: list[str] = []
    kinds: list[str] = []
    columns: list[list[int]] = []
    for kind in TAG_KINDS:
        for tag, names in data.get(kind, {}).items():
            if tag in tags:
                raise ValueError(f"tag {tag!r} is defined twice")
            if isinstance(names, str) or not names:
                raise ValueError(f"tag {tag!r} needs a non-empty list of ImageNet class names")
            try:
                indices = [class_index(name) for name in names]
            except ValueError as ex:
                raise ValueError(f"tag {tag!r}: {ex}") from ex
            if len(set(indices)) != len(indices):
                raise ValueError(f"tag {tag!r} lists a class twice: {list(names)}")
            tags.append(tag)
            kinds.append(kind)
            columns.append(indices)
    matrix = np.zeros((NUM_CLASSES, len(tags)), dtype=np.float32)
    for column, indices in enumerate(columns):
        matrix[indices, column] = 1.0
    return TagMap(tuple(tags), tuple(kinds), matrix)


@functools.cache
def default_tag_map() -> TagMap:
    """The vocabulary shipped as `vstream/detect/data/tag_map.json`."""
    text = importlib.resources.files("vstream.detect").joinpath("data/tag_map.json")
    return parse_tag_map(json.loads(text.read_text(encoding="utf-8")))


class FrameTagger:
    """Top tags per frame from the ImageNet head of the shared MobileNetV2.

    Stateless across frames (no `reset` needed): each frame is tagged on its own.
    """

    def __init__(
        self,
        tag_map: TagMap | None = None,
        threshold: float = 0.1,
        top_k: int = 5,
        batch_size: int = 16,
        size: int | None = 224,
        device: str | torch.device = "cpu",
        model: MobileNetV2 | None = None,
        max_area: int | None = None,
    ) -> None:
        """`threshold`: least score a tag needs to be reported; `top_k`: most tags per frame;
        `batch_size`: frames per forward pass; `size`: network input side (whole frame resized),
        None to keep the frames' size, but frames larger than `max_area` pixels (by more than
        `analysis.AREA_SLACK`) are shrunk to that area, aspect kept (global pooling takes any
        size; a 768x576 camera cost 9x the network's time of the 384x224 area at which the tags
        were judged, docs/models.md).
        """
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        if top_k < 1 or batch_size < 1:
            raise ValueError(f"top_k and batch_size must be >= 1, got {top_k}, {batch_size}")
        self.tag_map = tag_map or default_tag_map()
        self.threshold = threshold
        self.top_k = top_k
        self.batch_size = batch_size
        self.size = size
        self.max_area = max_area
        self.device = torch.device(device)
        self.model = model or load_mobilenet_v2(self.device)
        self._matrix = torch.from_numpy(self.tag_map.matrix).to(self.device)
        # bfloat16 makes MobileNetV2 ~4x faster where the CPU has native bf16 (AVX512-BF16,
        # AMX); class probabilities move by < 0.01.
        self._bf16 = self.device.type == "cpu" and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())

    def scores(self, frames: np.ndarray) -> np.ndarray:
        """uint8 RGB (B, H, W, 3) -> float32 (B, n_tags) scores in [0, 1], tag_map order."""
        out = []
        size: int | tuple[int, int] | None = self.size
        height, width = frames.shape[1:3]
        if size is None and self.max_area is not None:
            scale = linear_scale_over(width, height, self.max_area)
            if scale > 1.0:
                size = (round(height / scale), round(width / scale))
        with torch.inference_mode():
            for start in range(0, len(frames), self.batch_size):
                x = preprocess(frames[start:start + self.batch_size], size, self.device)
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self._bf16):
                    logits = self.model.classify(x)
                probs = logits.float().softmax(dim=1)
                # a tag's classes are disjoint outcomes: their probabilities add; the clamp
                # only removes float rounding above 1
                out.append((probs @ self._matrix).clamp_(0.0, 1.0).cpu().numpy())
        if not out:
            return np.zeros((0, len(self.tag_map.tags)), dtype=np.float32)
        return np.concatenate(out)

    def tag(self, frames: np.ndarray) -> list[list[tuple[str, float]]]:
        """uint8 RGB (B, H, W, 3) -> per frame, up to `top_k` (tag, score) pairs with
        score >= `threshold`, highest first."""
        result = []
        for row in self.scores(frames):
            order = np.argsort(-row, kind="stable")[: self.top_k]
            result.append(
                [(self.tag_map.tags[i], float(row[i])) for i in order if row[i] >= self.threshold]
            )
        return result
