"""What a frame model gives for each analysed frame, and the interface every frame model has.

Two models implement `FrameModel`: the unified network (`vstream.detect.network`, one forward
pass for detection, tags, person mask and embeddings) and the teachers it is distilled from
(`vstream.detect.teachers.model`: MTCNN, OpenCV HOG and dlib), selectable with `--model`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from vstream.detections import Detections

#: length of every appearance vector (dlib's face embedding size, which the embedding head is
#: distilled to reproduce)
EMBED_DIM = 128


@dataclass(frozen=True, eq=False)
class FrameAnalysis:
    """One analysed frame.

    detections: boxes in pixels of the analysed image, class_id from `vstream.detect.labels`,
        `embedding` (n, EMBED_DIM) float32, L2-normalised; an all-zero row means "no appearance
        known" (a teacher person box with no face inside it).
    tag_scores: (n_tags,) float32 scores over `vstream.detect.tags.default_tag_map().tags`, or None
        when the model does not tag (the teachers).
    person_mask: (h, w) float32 person probabilities on the analysed image's stride-8 grid, or
        None when the model does not segment.
    """

    detections: Detections
    tag_scores: np.ndarray | None = None
    person_mask: np.ndarray | None = None


class FrameModel(Protocol):
    """A model that analyses batches of frames."""

    #: what produced the rows (goes into every row's model_version)
    model_version: str
    #: (width, height) the frames must be given at
    input_size: tuple[int, int]

    def analyze(self, images: np.ndarray) -> list[FrameAnalysis]:
        """uint8 RGB frames (B, H, W, 3) at `input_size` -> one FrameAnalysis per frame."""
        ...
