"""SceneTagger: readable tags for each scene from a few frames sampled inside it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from vstream.decode.frames import FrameBatch
from vstream.segment.scenes import Scene

#: frames held for scenes not yet closed; past this, every other one is dropped (and new ones
#: are taken half as often), so a long scene keeps evenly spread samples in bounded memory
MAX_SAMPLES = 32
#: analysis size of a tagged frame (the whole frame, squashed, as the classifier was trained)
SAMPLE_SIZE = (224, 224)
#: frames classified in one forward pass; closed scenes wait until this many are pending
BATCH = 16


class SceneTagger:
    """Tags scenes with the ImageNet-derived vocabulary of `vstream.detect.tags`.

    Feed it the sampled frames of a stream (`observe`) and the scenes as they close (`tag`).
    A scene is classified on one sampled frame, plus one for each `long_scene_s` it lasts (at
    most `max_per_scene`), spread over it; it keeps the `top_k` tags whose mean score is at
    least `min_score`. Closed scenes wait until `BATCH` frames are pending so the classifier runs
    on full batches; `flush()` tags the rest at the end of the stream.
    """

    def __init__(self, max_per_scene: int = 3, long_scene_s: float = 10.0, top_k: int = 3,
                 min_score: float = 0.15, tagger=None) -> None:  # tagger: detect.tags.FrameTagger
        if max_per_scene < 1 or top_k < 1:
            raise ValueError(f"max_per_scene and top_k must be >= 1, got {max_per_scene}, {top_k}")
        self.max_per_scene, self.long_scene_s = max_per_scene, long_scene_s
        self.top_k, self.min_score = top_k, min_score
        self._tagger = tagger
        self.frames_tagged = 0
        self.reset()

    @property
    def tagger(self):
        if self._tagger is None:
            from vstream.detect.tags import FrameTagger

            self._tagger = FrameTagger(size=None, batch_size=BATCH)
        return self._tagger

    def reset(self) -> None:
        self._frames: list[tuple[int, np.ndarray]] = []
        self._stride = 1  # keep every stride-th offered sample
        self._offered = 0
        self._waiting: list[tuple[Scene, list[np.ndarray]]] = []

    def observe(self, samples: FrameBatch) -> None:
        """Hold sampled frames (in stream order) until the scenes around them close."""
        for idx, image in zip(samples.frame_index.tolist(), samples.images):
            self._offered += 1
            if self._offered % self._stride:
                continue
            self._frames.append((idx, image))
            if len(self._frames) > MAX_SAMPLES:
                self._frames = self._frames[::2]
                self._stride *= 2

    def tag(self, scenes: list[Scene]) -> list[Scene]:
        """Take closed `scenes`; return the scenes whose tags are now known, in order."""
        for scene in scenes:
            self._waiting.append((scene, self._pick(scene)))
        if scenes:
            last = scenes[-1].end_frame
            self._frames = [(idx, img) for idx, img in self._frames if idx > last]
            if len(self._frames) < MAX_SAMPLES // 4:
                self._stride = 1  # a new scene: sample densely again
        if sum(len(images) for _, images in self._waiting) >= BATCH:
            return self._classify()
        return []

    def flush(self) -> list[Scene]:
        """End of stream: tag the scenes still waiting."""
        return self._classify()

    def _pick(self, scene: Scene) -> list[np.ndarray]:
        inside = [i for i, (idx, _) in enumerate(self._frames)
                  if scene.start_frame <= idx <= scene.end_frame]
        if not inside and self._frames:  # shorter than the sampling step: the nearest sample
            middle = (scene.start_frame + scene.end_frame) / 2
            inside = [min(range(len(self._frames)), key=lambda i: abs(self._frames[i][0] - middle))]
        if not inside:
            return []
        count = min(self.max_per_scene, 1 + int((scene.end_s - scene.start_s) // self.long_scene_s),
                    len(inside))
        # evenly spread, centred: one sample is the scene's middle one
        picks = [inside[int((k + 0.5) * len(inside) / count)] for k in range(count)]
        return [self._frames[i][1] for i in picks]

    def _classify(self) -> list[Scene]:
        waiting, self._waiting = self._waiting, []
        images = [img for _, imgs in waiting for img in imgs]
        if not waiting:
            return []
        scores = self.tagger.scores(np.stack(images)) if images else np.zeros((0, 0))
        self.frames_tagged += len(images)
        names = self.tagger.tag_map.tags
        out, at = [], 0
        for scene, imgs in waiting:
            tags: tuple[str, ...] = ()
            if imgs:
                mean = scores[at : at + len(imgs)].mean(axis=0)
                at += len(imgs)
                order = np.argsort(-mean)[: self.top_k]
                tags = tuple(names[j] for j in order if mean[j] >= self.min_score)
            out.append(replace(scene, tags=tags))
        return out
