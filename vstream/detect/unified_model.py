"""`UnifiedModel`: the unified network as a `FrameModel`, uint8 frames in, `FrameAnalysis` out.

The network runs in a `UnifiedRuntime`: onnxruntime on a CPU in fp32
(`vstream.detect.unified_onnx.UnifiedOnnx`), torch on CUDA or in bf16
(`vstream.detect.network.TorchRuntime`). Everything after the network (peaks to boxes, the
thresholds, which face a body carries) is NumPy here, so a process whose graphs are cached
never imports torch (1.3-2.5 s of a start on two cores).

Faces are identified by SFace (`face_identity`, `vstream.detect.face_identity`), not by the
network's embedding head: the head learnt dlib's vectors, which on small faces are nearly alike
for everyone, and SFace on the network's face boxes tells the test video's people apart
(docs/models.md, "Face identity: SFace"). It runs after tracking, on the faces of the tracks
not yet identified (`StreamAnalyzer`), so it costs per new face track, not per face. The head's
vectors still steer the face tracker.

Precision: bf16 autocast is ~2x faster at batch 16 on a CPU with native bf16 (72 vs 35 frames/s
there), but MobileNetV2's bf16 feature maps differ from fp32 ones by 12-18% (mean relative
error of c3..c5 on the test video) and the heads were distilled on fp32 features. Measured on
the held-out frames with the checkpoint of the time: face recall/precision 0.64/0.72 (fp32) vs
0.67/0.68 (bf16), but the embeddings' pair correlation with dlib drops 0.51 -> 0.41, so fp32
stays the default.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

import numpy as np

from vstream.detect.analysis import EMBED_DIM, FrameAnalysis, area_size
from vstream.detect.box_decode import decode_boxes, distinct_boxes, sigmoid
from vstream.detect.face_identity import FaceIdentity
from vstream.detect.labels import ANALYSIS_SIZE, FACE, PERSON
from vstream.detect.person_faces import (
    face_sized_people, head_and_shoulders, lonely_faces, person_face_rows)
from vstream.detections import Detections

#: the stride of the shared features and of every dense output (MobileNetV2's c3 tap)
STRIDE = 8
#: least score of a person box reported for tracking only (`FrameAnalysis.low_detections`):
#: ByteTrack's low threshold
LOW_PERSON_SCORE = 0.1
#: smallest side of a frame the network analyses (its coarsest stride)
MIN_SIDE = 32
#: sources up to this area are analysed at ANALYSIS_SIZE's area; larger ones at a larger area
SMALL_SOURCE = (640, 360)
#: a larger source is analysed at this share of its side (0.75: a 768x576 camera at 576x432), up
#: to MAX_AREA_FACTOR times ANALYSIS_SIZE's area: the network's cost per frame grows with it
#: (docs/models.md, "A larger analysis area for large sources"). Checkpoints record the scale they run at
#: ("large_source_scale" in their training summary); one that does not say was trained at the
#: share of the pixels a 640x360 video gets, up to twice the area (`LEGACY_MAX_AREA_FACTOR`)
LARGE_SOURCE_SCALE = 0.75
MAX_AREA_FACTOR = 3.0
LEGACY_MAX_AREA_FACTOR = 2.0


class DenseArrays(NamedTuple):
    """What one backbone pass gives for a batch, as NumPy arrays, plus the shared features in
    the runtime's own form (handed back to `UnifiedRuntime.embed`)."""

    heatmap: np.ndarray  # (B, n_classes, h, w) logits
    size: np.ndarray  # (B, 2, h, w) log box size in cells
    offset: np.ndarray  # (B, 2, h, w) centre offset within the cell
    mask: np.ndarray  # (B, 1, h, w) person mask logits
    tag_scores: np.ndarray  # (B, n_tags) in [0, 1]
    features: Any  # (B, channels, h, w) stride-8 features, wherever the runtime keeps them


class UnifiedRuntime(Protocol):
    """Where the network runs."""

    def dense(self, frames: np.ndarray) -> DenseArrays:
        """uint8 RGB frames (B, H, W, 3) -> the dense outputs."""
        ...

    def embed(self, features: Any, rois: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """`DenseArrays.features` of frames of `size` and rois (K, 5: frame, x1, y1, x2, y2)
        -> L2-normalised embeddings (K, embed_dim) float32."""
        ...


def analysis_frame_size(width: int, height: int,
                        large_source_scale: float | None = LARGE_SOURCE_SCALE) -> tuple[int, int]:
    """The size the network analyses (and is distilled on) a width x height source at: its
    aspect ratio (squeezing a 4:3 camera to 16:9 merged people side by side) at the area of
    ANALYSIS_SIZE for sources up to 640x360 (a 16:9 video at 392x220), and for larger ones at
    `large_source_scale` of their side, between that area and MAX_AREA_FACTOR times it (a
    768x576 camera at 576x432, HD at 678x380). `large_source_scale` None: the rule before
    2026-12-04, the same share of the pixels a 640x360 video gets, up to twice the area (768x576
    at 470x352). At ANALYSIS_SIZE's area a campus camera's walkers are 20-45 pixels tall and two
    side by side fall on one stride-8 peak (docs/models.md, "A larger analysis area for large
    sources"). The network is convolutional, so any size works."""
    base = ANALYSIS_SIZE[0] * ANALYSIS_SIZE[1]
    pixels = width * height
    if pixels <= SMALL_SOURCE[0] * SMALL_SOURCE[1]:
        area = base
    elif large_source_scale is None:
        area = min(base * pixels / (SMALL_SOURCE[0] * SMALL_SOURCE[1]), LEGACY_MAX_AREA_FACTOR * base)
    else:
        area = min(max(base, large_source_scale ** 2 * pixels), MAX_AREA_FACTOR * base)
    return area_size(width, height, round(area))


class UnifiedModel:
    """The unified network as a `FrameModel` (see the module docstring). Stateless across
    frames (no `reset`)."""

    input_size: tuple[int, int] = ANALYSIS_SIZE

    def __init__(
        self,
        runtime: UnifiedRuntime,
        model_version: str,
        classes: Sequence[str],
        tags: Sequence[str],
        *,
        score_threshold: float | Sequence[float] = 0.3,
        top_k: int = 50,
        batch_size: int = 16,
        large_source_scale: float | None = LARGE_SOURCE_SCALE,
    ) -> None:
        """`score_threshold`: least heatmap peak probability of a detection, one for all classes
        or one per class; `top_k`: most detections per frame; `batch_size`: frames per forward
        pass; `large_source_scale`: how large sources are analysed (`analysis_frame_size`)."""
        if top_k < 1 or batch_size < 1:
            raise ValueError(f"top_k and batch_size must be >= 1, got {top_k}, {batch_size}")
        thresholds = np.broadcast_to(np.asarray(score_threshold, np.float32), (len(classes),)).copy()
        if np.any((thresholds < 0) | (thresholds > 1)):
            raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold}")
        self.runtime = runtime
        self.model_version = model_version
        self.classes = tuple(classes)
        self.tags = tuple(tags)
        self.top_k = top_k
        self.batch_size = batch_size
        self._thresholds = thresholds
        # a heatmap peak is not a detector's probability: the student's true faces score 0.6 at
        # the median (0.42 for persons on the music video), so ByteTrack's 0.6 to start a track
        # would follow only the clearest. Everything reported is "high"; ByteTrack's +0.1 starts.
        self.track_thresholds = {c: (float(t), min(float(t) + 0.1, 1.0))
                                 for c, t in enumerate(thresholds)}
        # the least score of a box reported at all: persons from LOW_PERSON_SCORE up to their
        # threshold are reported apart (`FrameAnalysis.low_detections`), for ByteTrack's second
        # association, which keeps a walker's track through a partial occlusion
        person = np.arange(len(self.classes)) == PERSON
        self._low_thresholds = np.where(person, np.minimum(LOW_PERSON_SCORE, thresholds), thresholds)
        self.last_seconds = 0.0
        self.face_identity = FaceIdentity()
        # one dense call per batch: on its own thread it overlaps the tracking (`vstream index`
        # on the bench video 11.3-11.7 -> 10.4-10.7 s, docs/benchmarks.md)
        self.pipelined = True
        self.large_source_scale = large_source_scale

    def frame_size(self, width: int, height: int) -> tuple[int, int]:
        """`analysis_frame_size`: the size the heads were trained at for such a source."""
        return analysis_frame_size(width, height, self.large_source_scale)

    def analyze(self, images: np.ndarray) -> list[FrameAnalysis]:
        """uint8 RGB frames (B, H, W, 3), at `frame_size` of their source -> one FrameAnalysis
        per frame: detections (boxes in input pixels, class_id from `labels`, confidence;
        embeddings L2-normalised for faces, a body carrying its face's or a zero row:
        `person_faces`), tag_scores over `self.tags`, person_mask probabilities
        (ceil(H / s), ceil(W / s)) on the network's mask grid (s = 4; 8 for a checkpoint made
        before 2026-12-04)."""
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 \
                or images.shape[3] != 3 or min(images.shape[1:3]) < MIN_SIDE:
            got = f"{images.dtype} {images.shape}" if isinstance(images, np.ndarray) else type(images)
            raise ValueError(f"images must be uint8 (B, H, W, 3) RGB with sides of at least "
                             f"{MIN_SIDE} (frame_size of their source), got {got}")
        start = time.perf_counter()
        result: list[FrameAnalysis] = []
        for i in range(0, len(images), self.batch_size):
            result.extend(self._analyze_batch(images[i:i + self.batch_size]))
        self.last_seconds = time.perf_counter() - start
        return result

    def _analyze_batch(self, images: np.ndarray) -> list[FrameAnalysis]:
        size = (images.shape[2], images.shape[1])
        out = self.runtime.dense(images)
        dec = decode_boxes(out.heatmap, out.size, out.offset, STRIDE, size, self.top_k)
        frame_of, slot = np.nonzero(dec.scores >= self._low_thresholds[dec.classes])
        kept = []
        for b in range(len(images)):
            rows = np.flatnonzero(frame_of == b)  # best first: slots are in score order
            # together, so that a low box repeating a reported one is not kept
            kept.append(rows[distinct_boxes(dec.boxes[b, slot[rows]], dec.classes[b, slot[rows]])])
        frame_of, slot = frame_of[np.concatenate(kept)], slot[np.concatenate(kept)]
        reported = dec.scores[frame_of, slot] >= self._thresholds[dec.classes[frame_of, slot]]
        low_frame, low_slot = frame_of[~reported], slot[~reported]
        low = Detections(dec.boxes[low_frame, low_slot], dec.scores[low_frame, low_slot],
                         dec.classes[low_frame, low_slot],
                         embedding=np.zeros((len(low_frame), EMBED_DIM), np.float32))
        frame_of, slot = frame_of[reported], slot[reported]
        boxes = dec.boxes[frame_of, slot]
        scores = dec.scores[frame_of, slot]
        classes = dec.classes[frame_of, slot]
        # only faces are embedded: a person box carries its face's vector (`person_faces`)
        faces = np.flatnonzero(classes == FACE)
        embeddings = np.zeros((len(boxes), EMBED_DIM), np.float32)
        if len(faces):
            rois = np.concatenate([frame_of[faces, None].astype(np.float32), boxes[faces]], axis=1)
            embeddings[faces] = self.runtime.embed(out.features, rois, size)
        tags = out.tag_scores.astype(np.float32)
        masks = sigmoid(out.mask[:, 0])
        result = []
        for b in range(len(images)):
            rows = np.flatnonzero(frame_of == b)
            mine_faces = rows[classes[rows] == FACE]
            people = rows[classes[rows] == PERSON]
            face_sized = people[face_sized_people(boxes[mine_faces], boxes[people])]
            rows, people = np.setdiff1d(rows, face_sized), np.setdiff1d(people, face_sized)
            carried = person_face_rows(boxes[mine_faces], boxes[people])
            embeddings[people[carried >= 0]] = embeddings[mine_faces[carried[carried >= 0]]]
            # a face no body contains brings its head-and-shoulders box, as the teachers' do
            lonely = mine_faces[lonely_faces(boxes[mine_faces], boxes[people])]
            result.append(FrameAnalysis(
                Detections(np.concatenate([boxes[rows], head_and_shoulders(boxes[lonely], *size)]),
                           np.concatenate([scores[rows], scores[lonely]]),
                           np.concatenate([classes[rows], np.full(len(lonely), PERSON, classes.dtype)]),
                           embedding=np.concatenate([embeddings[rows], embeddings[lonely]])),
                tag_scores=tags[b], person_mask=masks[b],
                low_detections=low[low_frame == b],
            ))
        return result
