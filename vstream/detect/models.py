"""Choosing the frame model by name (`--model`), and the people-gallery threshold of each."""

from __future__ import annotations

import functools

from vstream.detect.analysis import FrameModel

#: `--model` choices: the distilled unified network, its teachers, or no analysis (shots only)
MODEL_CHOICES = ("unified", "teachers", "none")
#: the student since it meets the bar for the default (docs/models.md, "Which model is the
#: default"): the shipped unified-mnv2-3329bbbc meets the persons, faces and masks against the
#: teachers, vtest.avi's hand counts (12 of 13), the singer's ID as well as the teachers (1.00 /
#: 0.89), a better identity F1 on the camera, scene tags (0.86) and 10x real time; neither
#: model gives the blonde dancer an ID of her own. The teachers stay for distillation and
#: comparison (`--model teachers`).
DEFAULT_MODEL = "unified"

#: cosine similarity a tracklet needs to its closest gallery exemplar to be that person, per
#: model. Both identify faces by SFace's vectors (`vstream.detect.face_identity`), so both use
#: OpenCV's published same-person threshold for SFace, 0.363 (opencv_zoo's face_recognition_sface,
#: cosine), not one fitted here. Against the hand labels of the test video's people
#: (`vstream.eval.people_labels`) it gives the singer one ID (purity 1.00, coverage 0.89 on the
#: whole and on both halves of the scenes) with either model; docs/models.md has the measurements.
MATCH_THRESHOLDS = {"unified": 0.363, "teachers": 0.363}
#: a tracklet matched less closely than this (SFace cosine) is that person but does not teach the
#: gallery their look (`PeopleGallery`'s `learn_threshold`; a model not named learns from every
#: match). The student's faces are aligned by their box, where strangers match more closely:
#: 0.5 is about the 90th percentile of other people's best match among the singer's faces so
#: aligned (0.509; docs/models.md, "Face identity: SFace", measured 2026-12-04). Learning from
#: weaker matches let the bartender's face become one of the singer's looks, which then drew a
#: male dancer in. The teachers' faces, aligned by landmarks, keep learning from every match:
#: at their own 90th percentile (0.467) the singer split (docs/models.md, "A gallery that learns
#: only from confident matches").
LEARN_THRESHOLDS = {"unified": 0.5}


@functools.lru_cache(maxsize=4)
def load_frame_model(name: str, checkpoint: str | None = None, precision: str = "auto") -> FrameModel | None:
    """The frame model called `name` (None for "none"); `checkpoint` overrides the unified
    network's shipped weights, `precision` how it runs (`checkpoint.load_unified`). Loaded once
    per process: models are shared, like the backbone."""
    if name == "unified":
        from vstream.detect.checkpoint import load_unified

        return load_unified(checkpoint, precision=precision)
    if name == "teachers":
        from vstream.detect.teachers.model import TeacherModel

        return TeacherModel()
    if name == "none":
        return None
    raise ValueError(f"unknown model {name!r}: choose one of {', '.join(MODEL_CHOICES)}")


def match_threshold(name: str) -> float | None:
    """The gallery threshold measured for model `name` (None for "none")."""
    return MATCH_THRESHOLDS.get(name)


def learn_threshold(name: str) -> float | None:
    """The least match from which model `name`'s gallery learns (None: from every match)."""
    return LEARN_THRESHOLDS.get(name)
