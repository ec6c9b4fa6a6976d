"""People found per frame against hand labels of one point per person.

Labels made by looking at frames (tests/data/bikes_people.json): on each sampled frame, a point
on every clearly visible person (`people`) and on people a detector may find or miss without
being wrong (`optional`: blurred, far or cut to a foot at the edge). Like the ignore regions of
pedestrian benchmarks, an optional person neither counts as missed nor makes the box on it a
false one. Each point is taken by at most one person box containing it (`assign_points`), so
one loose box around two people finds one of them.

Unlike agreement with the teachers (`vstream.eval.detection`), this is truth: it scores the
teachers too, and on footage neither model was trained on it is the fair comparison.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vstream.detect.analysis import FrameModel
from vstream.eval.point_tracks import assign_points


@dataclass(frozen=True)
class PointPeople:
    """Hand labels of one video: {time key: (people (n, 2), optional (m, 2))} in source
    pixels, at `sample_fps` (keys are the sampled frames' times, "%.2f" seconds)."""

    video: str
    sample_fps: float
    frames: dict[str, tuple[np.ndarray, np.ndarray]]

    @classmethod
    def load(cls, path: str | Path) -> PointPeople:
        """Read a labels file; ValueError naming the file when it is missing or not one."""
        try:
            data = json.loads(Path(path).read_text())
            frames = {t: (np.asarray(f["people"], np.float32).reshape(-1, 2),
                          np.asarray(f["optional"], np.float32).reshape(-1, 2))
                      for t, f in data["frames"].items()}
            return cls(str(data["video"]), float(data["sample_fps"]), frames)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as ex:
            raise ValueError(f"{path}: not a people-labels file ({type(ex).__name__}: {ex})") from None


@dataclass(frozen=True)
class PointPeopleScore:
    """People found (points taken by a box) and boxes that are on somebody."""

    frames: int
    people: int  # required points
    found: int  # required points taken by a box
    boxes: int
    on_people: int  # boxes that took a point, required or optional

    @property
    def recall(self) -> float:
        return self.found / self.people if self.people else 1.0

    @property
    def precision(self) -> float:
        return self.on_people / self.boxes if self.boxes else 1.0

    def __str__(self) -> str:
        return (f"recall {self.recall:.2f} ({self.found} of {self.people} people), precision "
                f"{self.precision:.2f} ({self.on_people} of {self.boxes} boxes on somebody), "
                f"{self.frames} frames")


def time_key(seconds: float) -> str:
    """The label key of a sampled frame at `seconds`."""
    return f"{seconds:.2f}"


def score_point_people(labels: PointPeople, boxes: Mapping[str, np.ndarray]) -> PointPeopleScore:
    """Person boxes (n, 4) xyxy in source pixels per labelled frame (`time_key`) against the
    labels. Every labelled frame must have an entry (an empty array when nothing was found)."""
    missing = sorted(set(labels.frames) - set(boxes))
    if missing:
        raise ValueError(f"no boxes given for labelled frames {missing[:5]}")
    people = found = n_boxes = on_people = 0
    for key, (required, optional) in labels.frames.items():
        xyxy = np.asarray(boxes[key], np.float32).reshape(-1, 4)
        taken = assign_points(np.concatenate([required, optional]), xyxy)
        people += len(required)
        found += int(taken[:len(required)].any(axis=1).sum())
        n_boxes += len(xyxy)
        on_people += int(taken.any(axis=0).sum())
    return PointPeopleScore(len(labels.frames), people, found, n_boxes, on_people)


def evaluate_point_people(model: FrameModel, video: str | Path, labels: PointPeople) -> PointPeopleScore:
    """`model`'s person boxes on the labelled frames of `video` (sampled at the labels' rate,
    at the model's `frame_size` of the source), scored against `labels`."""
    from vstream.detect.labels import PERSON
    from vstream.detect.video_samples import sample_frames, source_size

    width, height = source_size(video)
    size = model.frame_size(width, height)
    frames = sample_frames(video, labels.sample_fps, size)
    keys = [time_key(t) for t in frames.times]
    wanted = [i for i, k in enumerate(keys) if k in labels.frames]
    if len(wanted) != len(labels.frames):
        raise ValueError(f"{video}: {len(labels.frames) - len(wanted)} labelled frames are not among "
                         f"its frames sampled at {labels.sample_fps:g} fps (labels of another video?)")
    scale = np.array([width / size[0], height / size[1]] * 2, np.float32)
    analyses = model.analyze(frames.images[wanted])
    boxes = {keys[i]: a.detections.xyxy[a.detections.class_id == PERSON] * scale
             for i, a in zip(wanted, analyses)}
    return score_point_people(labels, boxes)
