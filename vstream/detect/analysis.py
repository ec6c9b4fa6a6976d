"""What a frame model gives for each analysed frame, and the interface every frame model has.

Two models implement `FrameModel`: the unified network (`vstream.detect.network`, one forward
pass for detection, tags, person mask and embeddings) and the teachers it is distilled from
(`vstream.detect.teachers.model`: MTCNN, SSDLite-MobileNetV2 people and SFace face identity),
selectable with `--model`. A model says at what size it wants the frames of a source (`frame_size`): both keep
the source's aspect ratio, the network at its input area, the teachers at the source's own
resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Mapping
from typing import Protocol

import math

import numpy as np

from vstream.detections import Detections

#: length of every appearance vector (the teachers' face identity vector, which the embedding
#: head is distilled to reproduce: dlib's until 2026-12-04, SFace's since; both 128)
EMBED_DIM = 128


@dataclass(frozen=True, eq=False)
class FrameAnalysis:
    """One analysed frame.

    detections: boxes in pixels of the analysed image, class_id from `vstream.detect.labels`,
        `embedding` (n, EMBED_DIM) float32, L2-normalised; an all-zero row means "no appearance
        known" (a teacher person box with no face inside it).
    tag_scores: (n_tags,) float32 scores over `vstream.detect.tag_map.default_tag_map().tags`, or None
        when the model does not tag (the teachers).
    person_mask: (h, w) float32 person probabilities on a grid over the analysed image (stride
        4, or 8 for a unified checkpoint made before 2026-12-04), or None when the model does
        not segment; `vstream.detect.person_mask.frame_mask` brings it to the image's pixels.
    low_detections: boxes scoring below the model's threshold for `detections` (persons from
        0.1: the unified network's LOW_PERSON_SCORE, the teachers' LOW_PEOPLE_SCORE), with the
        same columns, for ByteTrack's second association only: a
        tracker may extend a track with one (a walker half behind another), never start one,
        and none is stored unless a track took it; None when the model has none.
    """

    detections: Detections
    tag_scores: np.ndarray | None = None
    person_mask: np.ndarray | None = None
    low_detections: Detections | None = None


class FrameModel(Protocol):
    """A model that analyses batches of frames."""

    #: what produced the rows (goes into every row's model_version)
    model_version: str
    #: (width, height) the model was made for (the network's fixed input; the size the
    #: teachers' outputs are distilled at)
    input_size: tuple[int, int]
    #: per class ID, the (track_thresh, new_track_thresh) its detections are tracked with
    #: (`ByteTracker`: the score of a "high" detection, and the least that starts a track):
    #: scores are the model's own scale. A class not named keeps ByteTrack's 0.5 and 0.6.
    track_thresholds: Mapping[int, tuple[float, float]]
    #: None when the model's embeddings of faces (and of the person box carrying a face) are
    #: identity vectors; else the recognizer that gives faces their identity vectors after
    #: tracking, for the face tracks not yet identified (`StreamAnalyzer`): the unified
    #: network's own embeddings only steer its face tracker
    face_identity: FaceRecognizer | None
    #: whether the drivers run the model's pass on a thread of its own, between decoding and
    #: tracking (`StreamStages.analyse`): worth it for a pass that is one large call per batch
    #: and leaves the cores to the other threads while it waits; not for many small torch ops
    #: under OpenMP, which slow down beside other busy threads
    pipelined: bool

    def frame_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) the frames of a width x height source are analysed at."""
        ...

    def analyze(self, images: np.ndarray) -> list[FrameAnalysis]:
        """uint8 RGB frames (B, H, W, 3) at `frame_size` of their source -> one FrameAnalysis
        per frame."""
        ...


class FaceRecognizer(Protocol):
    """Face identity vectors (`vstream.detect.face_identity.FaceIdentity`)."""

    model_version: str

    def embed(self, image: np.ndarray, boxes: np.ndarray,
              landmarks: np.ndarray | None = None) -> np.ndarray:
        """(n, EMBED_DIM) unit vectors of the faces in `boxes` (n, 4) of a uint8 RGB image."""
        ...


def identity_version(model: FrameModel) -> str:
    """What a people gallery of `model` (and its stored people) is keyed by: the model, and the
    recognizer of its faces where that is not the model itself, so vectors of one kind only are
    ever compared."""
    recognizer = model.face_identity
    return model.model_version if recognizer is None else f"{model.model_version}+{recognizer.model_version}"


def keep_aspect_size(width: int, height: int, min_area: int, max_side: int) -> tuple[int, int]:
    """(width, height) of a width x height frame scaled keeping its aspect ratio: up until it
    has `min_area` pixels when it has fewer, down until its longer side is `max_side` when it is
    longer, else unchanged; even sides (what YUV 4:2:0 scalers like), at least 2."""
    if width < 1 or height < 1 or min_area < 1 or max_side < 2:
        raise ValueError(f"need a positive frame size, min_area and max_side >= 2, got "
                         f"{width}x{height}, {min_area}, {max_side}")
    scale = max(1.0, math.sqrt(min_area / (width * height)))
    scale = min(scale, max_side / max(width, height))
    return (max(2, 2 * round(width * scale / 2)), max(2, 2 * round(height * scale / 2)))



def area_size(width: int, height: int, area: int, min_side: int = 32) -> tuple[int, int]:
    """(width, height) of a width x height frame scaled, up or down, to about `area` pixels,
    keeping its aspect ratio: even sides, each at least `min_side`."""
    if width < 1 or height < 1 or area < 1:
        raise ValueError(f"need a positive frame size and area, got {width}x{height}, {area}")
    scale = math.sqrt(area / (width * height))
    return (max(min_side, 2 * round(width * scale / 2)), max(min_side, 2 * round(height * scale / 2)))

#: a frame within this factor of an area counts as that area: a small source scaled up to the
#: analysis area by `keep_aspect_size` comes out a little over it (392x220 for 384x224)
AREA_SLACK = 1.05


def linear_scale_over(width: int, height: int, area: int) -> float:
    """How many times larger, side for side, a width x height frame is than `area` pixels; 1.0
    for frames within AREA_SLACK of it or smaller. What was calibrated at the analysis area (a
    smallest face, the tags) is scaled by this on larger frames."""
    scale = math.sqrt(width * height / area)
    return scale if scale * scale > AREA_SLACK else 1.0
