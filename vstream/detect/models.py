"""Choosing the frame model by name (`--model`), and the people-gallery threshold of each."""

from __future__ import annotations

import functools

from vstream.detect.analysis import FrameModel

#: `--model` choices: the distilled unified network (default), its teachers, or no analysis
#: (shots only)
MODEL_CHOICES = ("unified", "teachers", "none")
DEFAULT_MODEL = "unified"

#: cosine similarity a tracklet needs to its closest gallery exemplar to be that person, per
#: model; docs/models.md has the measurements. teachers: dlib's same-person rule (raw distance
#: < 0.6) on unit vectors, as dlib's raw vectors here have norm 1.43 (1 - (0.6 / 1.43)^2 / 2 =
#: 0.91), and the calibration against dlib's clustering of the test video's face tracklets
#: (`vstream.track.people_eval`) agrees: 0.90-0.91.
MATCH_THRESHOLDS = {"unified": 0.5, "teachers": 0.91}


@functools.lru_cache(maxsize=4)
def load_frame_model(name: str, checkpoint: str | None = None) -> FrameModel | None:
    """The frame model called `name` (None for "none"); `checkpoint` overrides the unified
    network's shipped weights. Loaded once per process: models are shared, like the
    backbone."""
    if name == "unified":
        from vstream.detect.checkpoint import load_unified

        return load_unified(checkpoint)
    if name == "teachers":
        from vstream.detect.teachers.model import TeacherModel

        return TeacherModel()
    if name == "none":
        return None
    raise ValueError(f"unknown model {name!r}: choose one of {', '.join(MODEL_CHOICES)}")


def match_threshold(name: str) -> float | None:
    """The gallery threshold measured for model `name` (None for "none")."""
    return MATCH_THRESHOLDS.get(name)
