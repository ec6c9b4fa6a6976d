"""How well a model's people IDs agree with dlib's face identities, and the threshold that
makes them agree best.

The video runs through the same stages as `vstream index` (shots, the frame model at the
analysis rate, trackers, tracklets per scene, the gallery). Every face tracklet also gets a
reference identity: dlib's face embedding of its middle detection, clustered the way dlib
clusters faces (Chinese whispers at its same-person distance, 0.6; `reference_clusters`). Agreement is the share of face tracklets whose
person ID maps to their reference cluster under the best one-to-one mapping.

The threshold is calibrated on the tracklets in training time blocks only
(`vstream.detect.video_samples.is_held_out`), and the agreement is reported on the held-out
tracklets as well as on all of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import av
import numpy as np

from vstream.detect.analysis import identity_version
from vstream.detect.labels import FACE
from vstream.detect.video_samples import is_held_out, source_size
from vstream.ingest.chunker import Chunker
from vstream.stream.stages import DEFAULT_ANALYSIS_FPS, StreamStages
from vstream.track.gallery import PeopleGallery
from vstream.track.tracklets import Tracklet


@dataclass(frozen=True)
class PeopleEvaluation:
    face_tracklets: int
    people: int  # distinct person IDs given to face tracklets
    reference_people: int  # dlib clusters
    agreement: float  # all face tracklets
    held_out_agreement: float  # face tracklets in held-out time blocks
    threshold: float  # the gallery threshold the run used
    calibrated_threshold: float  # best threshold on the training blocks
    calibrated_agreement: float  # agreement on the training blocks at that threshold


def face_tracklets(video: str, model, threshold: float,
                   analysis_fps: float = DEFAULT_ANALYSIS_FPS) -> list[Tracklet]:
    """The identified face tracklets of `video` (one fresh gallery), in time order."""
    chunker = Chunker(video, "eval")
    gallery = PeopleGallery(identity_version(model), threshold)
    stages = StreamStages("eval", float(chunker.info.frame_rate), shots="combined", model=model,
                          gallery=gallery, analysis_fps=analysis_fps)
    scenes = [a for chunk in chunker for a in stages.push(chunk).scenes] + stages.finish().scenes
    return [t for a in scenes for t in a.tracklets if t.class_id == FACE and t.person_id]


def dlib_embeddings(video: str, tracklets: list[Tracklet], size: tuple[int, int]) -> np.ndarray:
    """dlib's raw embedding (n, 128) of each tracklet's middle detection, from the frame decoded
    at `size` (the analysis size its box is in)."""
    from vstream.detect.teachers.dlib_faces import DlibFaces

    wanted: dict[int, list[int]] = {}
    for i, t in enumerate(tracklets):
        wanted.setdefault(t.frames[len(t.frames) // 2], []).append(i)
    faces = DlibFaces()
    out = np.zeros((len(tracklets), 128), np.float32)
    w, h = size
    scale = np.array([w, h, w, h], np.float32)
    with av.open(video) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                image = frame.to_ndarray(format="rgb24", width=w, height=h, interpolation="AREA")
                rows = wanted.pop(index)
                boxes = np.stack([tracklets[i].box_at(index) * scale for i in rows])
                out[rows] = faces.embed(image, boxes)
            if not wanted:
                break
    return out


def evaluate_people(video: str, model, threshold: float,
                    analysis_fps: float = DEFAULT_ANALYSIS_FPS) -> PeopleEvaluation:
    """Index `video` with `model` and a fresh gallery at `threshold`; compare its face
    tracklets' person IDs with dlib's clustering."""
    tracklets = face_tracklets(video, model, threshold, analysis_fps)
    if not tracklets:
        raise ValueError(f"{video}: the model found no face tracklets to evaluate")
    reference = reference_clusters(dlib_embeddings(video, tracklets,
                                                   model.frame_size(*source_size(video))))
    ids = [t.person_id for t in tracklets]
    held = is_held_out(np.array([t.times[0] for t in tracklets]))
    train = [i for i in range(len(tracklets)) if not held[i]]
    calibrated, calibrated_agreement = calibrate_threshold(
        [np.array(tracklets[i].embeddings) for i in train], [reference[i] for i in train])
    held_ids = [ids[i] for i in range(len(ids)) if held[i]]
    return PeopleEvaluation(
        face_tracklets=len(tracklets),
        people=len(set(ids)),
        reference_people=len(set(reference)),
        agreement=cluster_agreement(ids, reference),
        held_out_agreement=cluster_agreement(held_ids, [reference[i] for i in range(len(ids)) if held[i]]),
        threshold=threshold,
        calibrated_threshold=calibrated,
        calibrated_agreement=calibrated_agreement,
    )


def cluster_agreement(ids: list[str | None], reference: list[int]) -> float:
    """Fraction of items whose ID maps to their reference cluster under the best one-to-one
    mapping of IDs to clusters (Hungarian assignment on the contingency table). Items with no
    ID count as disagreeing."""
    from scipy.optimize import linear_sum_assignment

    if len(ids) != len(reference):
        raise ValueError(f"need one reference label per ID, got {len(ids)} and {len(reference)}")
    if not ids:
        return 1.0
    names = sorted({i for i in ids if i is not None})
    clusters = sorted(set(reference))
    table = np.zeros((len(names), len(clusters)), np.int64)
    for i, c in zip(ids, reference):
        if i is not None:
            table[names.index(i), clusters.index(c)] += 1
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum()) / len(ids)


def reference_clusters(embeddings: np.ndarray, max_distance: float = 0.6) -> list[int]:
    """dlib's own clustering of raw dlib face embeddings (n, 128): Chinese whispers over the
    graph of pairs closer than dlib's same-person distance, 0.6 (dlib's face-clustering
    example). The reference people IDs are measured against.

    Not average-linkage: on the test video's small, blurry faces it cuts the lead singer into
    three clusters (with sunglasses, lit warm, lit cold; docs/models.md shows the crops), where
    the graph keeps the chain of in-between views that joins them."""
    import dlib

    if len(embeddings) < 2:
        return [0] * len(embeddings)
    vectors = [dlib.vector([float(v) for v in row]) for row in np.asarray(embeddings)]
    return [int(c) for c in dlib.chinese_whispers_clustering(vectors, max_distance)]


def calibrate_threshold(tracklet_embeddings: list[np.ndarray], reference: list[int],
                        candidates: Iterable[float] = np.arange(0.50, 0.99, 0.01),
                        tolerance: float = 0.01) -> tuple[float, float]:
    """The match threshold whose gallery, fed the tracklets in order, best agrees with the
    `reference` clustering; returns (threshold, agreement). Of the thresholds within
    `tolerance` of the best agreement, the highest: a video of one man agrees as well with
    "everyone is p1", and a gallery must still tell the next person apart."""
    scores = []
    for threshold in candidates:
        gallery = PeopleGallery("calibration", float(threshold))
        ids = [gallery.identify(e, "calibration", 0.0) for e in tracklet_embeddings]
        scores.append((round(float(threshold), 4), cluster_agreement(ids, reference)))
    best = max(score for _, score in scores)
    return max((t, s) for t, s in scores if s >= best - tolerance)
