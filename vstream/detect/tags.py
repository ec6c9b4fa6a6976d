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

import numpy as np
import torch

from vstream.detect.analysis import linear_scale_over
from vstream.detect.mobilenet import MobileNetV2, load_mobilenet_v2, preprocess
from vstream.detect.tag_map import TagMap, default_tag_map


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
