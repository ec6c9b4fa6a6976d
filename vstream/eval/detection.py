"""How well a student reproduces its teacher on held-out frames.

Only frames of held-out time blocks (`video_samples.is_held_out`) are evaluated, so no frame the
student was trained on is scored. Per class (person, face): the model's detections are matched
one-to-one to the teacher's by IoU (Hungarian assignment, a pair counts at IoU >= 0.5); recall is
matched / teacher boxes, precision matched / model boxes. For matched faces, the cosine between
the model's embedding and the teacher's (SFace) embedding; as a yardstick, the cosine a constant
predictor gets (the mean teacher face embedding of the same frames, normalised): face embeddings
of different people are far from orthogonal, so a high cosine alone proves little; the
correlation between the model's and the teacher's cosines over all pairs of matched faces says
whether the model separates the same people the teacher does.
"""

from __future__ import annotations

import logging
import pathlib
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from vstream.detect.analysis import FrameModel
from vstream.detect.labels import FACE, PERSON
from vstream.detect.person_mask import frame_mask
from vstream.detect.teacher_cache import teacher_detections
from vstream.detect.teachers.selfie_segmentation import SelfieSegmenter
from vstream.detect.video_samples import sample_frames, source_size
from vstream.detections import Detections
from vstream.eval.masks import MaskScore, mask_score, pooled
from vstream.kernels import iou_matrix

log = logging.getLogger(__name__)

IOU_MATCH = 0.5


def match_boxes(pred: np.ndarray, truth: np.ndarray, iou: float = IOU_MATCH) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matches of pred (n, 4) to truth (m, 4) boxes with IoU >= `iou` that maximise
    the summed IoU -> (pred indices, truth indices)."""
    if len(pred) == 0 or len(truth) == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    overlap = iou_matrix(pred.astype(np.float32), truth.astype(np.float32))
    rows, cols = linear_sum_assignment(-overlap)
    ok = overlap[rows, cols] >= iou
    return rows[ok], cols[ok]


@dataclass(frozen=True)
class ClassScore:
    """Detection agreement for one class."""

    teacher: int  # teacher boxes
    model: int  # model boxes
    matched: int  # pairs at IoU >= 0.5

    @property
    def recall(self) -> float:
        """matched / teacher boxes (1 when the teacher has none)."""
        return self.matched / self.teacher if self.teacher else 1.0

    @property
    def precision(self) -> float:
        """matched / model boxes (1 when the model has none)."""
        return self.matched / self.model if self.model else 1.0


@dataclass(frozen=True)
class Evaluation:
    """The student against the teacher on held-out frames."""

    frames: int
    face: ClassScore
    person: ClassScore
    face_cosine: float  # mean cosine of matched faces (model vs teacher embedding); nan if none
    face_cosine_constant: float  # the same for the mean teacher embedding (a constant predictor)
    face_pair_correlation: float  # Pearson r of model vs teacher cosines over pairs of matched
    #   faces: does the model tell the same people apart as the teacher (0 for a constant)
    person_cosine: float  # matched persons whose teacher embedding is non-zero; nan if none
    fps: float  # model frames per second (analyze, whole held-out set, model's batch size)
    model_version: str
    mask: MaskScore | None = None  # person mask against the segmentation teacher, when measured

    def summary(self) -> dict[str, float | int | str]:
        """Flat numbers for logs and checkpoint metadata."""
        out = {k: v for k, v in asdict(self).items() if not isinstance(v, dict) and k != "mask"}
        for name, score in (("face", self.face), ("person", self.person)):
            out[f"{name}_recall"] = round(score.recall, 4)
            out[f"{name}_precision"] = round(score.precision, 4)
            out[f"{name}_teacher_boxes"] = score.teacher
        for k in ("face_cosine", "face_cosine_constant", "face_pair_correlation", "person_cosine", "fps"):
            out[k] = round(float(out[k]), 4)
        if self.mask is not None:
            out["mask_iou"] = round(self.mask.iou, 4)
        return out


def compare(model_dets: Sequence[Detections], teacher_dets: Sequence[Detections]) -> dict[str, object]:
    """Per-class counts and matched embedding cosines of model vs teacher detections, frame by
    frame (the pure part of `evaluate`)."""
    counts = {c: [0, 0, 0] for c in (PERSON, FACE)}
    cosines: dict[int, list[float]] = {PERSON: [], FACE: []}
    teacher_faces: list[np.ndarray] = []
    model_faces: list[np.ndarray] = []
    for m, t in zip(model_dets, teacher_dets, strict=True):
        for c in (PERSON, FACE):
            mi = np.flatnonzero(m.class_id == c)
            ti = np.flatnonzero(t.class_id == c)
            rows, cols = match_boxes(m.xyxy[mi], t.xyxy[ti])
            counts[c][0] += len(ti)
            counts[c][1] += len(mi)
            counts[c][2] += len(rows)
            if m.embedding is None or t.embedding is None:
                continue
            a = m.embedding[mi[rows]]
            b = t.embedding[ti[cols]]
            known = np.linalg.norm(b, axis=1) > 0  # a zero teacher row means "no appearance"
            cosines[c].extend(_cosine(a[known], b[known]).tolist())
            if c == FACE:
                teacher_faces.append(b[known])
                model_faces.append(a[known])
    faces = np.concatenate(teacher_faces) if teacher_faces else np.zeros((0, 1), np.float32)
    correlation = float("nan")
    if len(faces) >= 3:
        mine = np.concatenate(model_faces)
        mine = mine / np.maximum(np.linalg.norm(mine, axis=1, keepdims=True), 1e-12)
        theirs = faces / np.maximum(np.linalg.norm(faces, axis=1, keepdims=True), 1e-12)
        upper = np.triu_indices(len(faces), 1)
        x, y = (mine @ mine.T)[upper], (theirs @ theirs.T)[upper]
        if x.std() > 0 and y.std() > 0:
            correlation = float(np.corrcoef(x, y)[0, 1])
    constant = (float(np.mean(_cosine(np.broadcast_to(faces.mean(0), faces.shape), faces)))
                if len(faces) else float("nan"))
    return {
        "face": ClassScore(*counts[FACE]), "person": ClassScore(*counts[PERSON]),
        "face_cosine": float(np.mean(cosines[FACE])) if cosines[FACE] else float("nan"),
        "face_cosine_constant": constant,
        "face_pair_correlation": correlation,
        "person_cosine": float(np.mean(cosines[PERSON])) if cosines[PERSON] else float("nan"),
    }


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    num = np.sum(a * b, axis=1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return num / np.maximum(den, 1e-12)


def evaluate(
    model: FrameModel,
    videos: Sequence[str | pathlib.Path],
    teacher: FrameModel,
    *,
    sample_fps: float = 4.0,
    max_frames: int | None = None,
    cache_dir: pathlib.Path | None = None,
    unseen: bool = False,
    segmenter: SelfieSegmenter | None = None,
) -> Evaluation:
    """`model` against `teacher` on the held-out frames of `videos`, sampled at `sample_fps`
    (use the distillation's rate: the teacher's outputs then come from its cache). `unseen`:
    the videos were never trained on, so every sampled frame counts (clips shorter than the
    first held-out block, 40 s, have no held-out frames). `segmenter`: also score the model's
    person masks against this teacher's, run with the teacher's person boxes (`masks`)."""
    model_dets: list[Detections] = []
    teacher_dets: list[Detections] = []
    masks: list[MaskScore] = []
    pixels: list[int] = []
    seconds = 0.0
    for video in videos:
        frames = sample_frames(video, sample_fps, model.frame_size(*source_size(video)),
                               max_frames=max_frames)
        truth = teacher_detections(frames, teacher, cache_dir, max_frames)
        counted = np.ones(len(frames), bool) if unseen else frames.held_out
        keep = np.flatnonzero(counted)
        held = frames.select(counted)
        if not len(held):
            continue
        start = time.perf_counter()
        analyses = model.analyze(held.images)
        seconds += time.perf_counter() - start
        model_dets.extend(a.detections for a in analyses)
        teacher_dets.extend(truth[i] for i in keep)
        if segmenter is not None:
            theirs = segmenter.segment(held.images, [truth[i].xyxy[truth[i].class_id == PERSON] for i in keep],
                                       [truth[i].xyxy[truth[i].class_id == FACE] for i in keep])
            mine = np.stack([frame_mask(a.person_mask, image) for a, image in zip(analyses, held.images)])
            masks.append(mask_score(mine, theirs))
            pixels.append(theirs.size)
    if not model_dets:
        raise ValueError(f"no held-out frames in {list(map(str, videos))} at {sample_fps} fps "
                         f"(held out: every 5th 10-s block, from 40 s; a video never trained "
                         f"on counts whole with --unseen)")
    result = Evaluation(frames=len(model_dets), fps=len(model_dets) / seconds,
                        model_version=model.model_version, **compare(model_dets, teacher_dets),
                        mask=pooled(masks, pixels) if masks else None)
    log.info("evaluation on %d held-out frames: %s", result.frames, result.summary())
    return result

