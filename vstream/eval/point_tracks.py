"""Tracking accuracy against hand-marked identities: one point per person per labelled frame.

Drawing exact boxes for every person of a crowded camera frame is slow and disputable; a point
on each person's torso, with an identity that stays with the person, is quick to mark by eye
and is all that identity F1 needs: a predicted box "is" a labelled person in a frame when the
point lies inside it. Labels are JSON (`tests/data/vtest_identities.json`):
{"frames": {"<frame index>": [[identity, x, y], ...], ...}}.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vstream.detections import Detections
from vstream.eval.mot import identity_f1


@dataclass(frozen=True)
class PointLabels:
    """Per labelled frame: identities (n,) int64 and torso points (n, 2) float32."""

    frames: dict[int, tuple[np.ndarray, np.ndarray]]

    @classmethod
    def load(cls, path: str | Path) -> PointLabels:
        raw = json.loads(Path(path).read_text())["frames"]
        frames = {}
        for key, rows in raw.items():
            a = np.asarray(rows, np.float64).reshape(-1, 3)
            frames[int(key)] = (a[:, 0].astype(np.int64), a[:, 1:].astype(np.float32))
        return cls(dict(sorted(frames.items())))

    @property
    def identities(self) -> set[int]:
        return {int(i) for ids, _ in self.frames.values() for i in ids}


@dataclass(frozen=True)
class PointTrackingScores:
    """IDF1 on point labels, and how the labelled people were split and merged."""

    idf1: float
    idtp: int
    idfp: int
    idfn: int
    num_gt: int
    num_pred: int
    #: mean number of predicted identities a labelled person was found under (1 is ideal)
    ids_per_person: float
    #: labelled points no predicted box took
    missed: int

    def __str__(self) -> str:
        return (f"IDF1 {self.idf1:.3f} (IDTP {self.idtp}, IDFP {self.idfp}, IDFN {self.idfn}; "
                f"{self.num_gt} points, {self.num_pred} boxes, {self.missed} points unmatched, "
                f"{self.ids_per_person:.2f} track IDs per person)")


def points_in_boxes(points: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
    """(n_points, n_boxes) bool: point i lies inside box j (edges included)."""
    p = np.asarray(points, np.float32).reshape(-1, 1, 2)
    b = np.asarray(xyxy, np.float32).reshape(1, -1, 4)
    return ((p[..., 0] >= b[..., 0]) & (p[..., 0] <= b[..., 2])
            & (p[..., 1] >= b[..., 1]) & (p[..., 1] <= b[..., 3]))


def assign_points(points: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
    """(n_points, n_boxes) bool, at most one True per row and per column: each point taken by
    one box containing it, the pairing with the least total distance from point to box centre
    (in box sizes). Two people walking together inside one loose box are one match, not two."""
    inside = points_in_boxes(points, xyxy)
    out = np.zeros_like(inside)
    if not inside.any():
        return out
    from scipy.optimize import linear_sum_assignment

    b = np.asarray(xyxy, np.float32).reshape(-1, 4)
    centre = (b[:, :2] + b[:, 2:]) / 2
    size = np.maximum(b[:, 2:] - b[:, :2], 1.0)
    p = np.asarray(points, np.float32).reshape(-1, 2)
    dist = np.linalg.norm((p[:, None, :] - centre[None]) / size[None], axis=2)
    cost = np.where(inside, dist, 1e6)
    rows, cols = linear_sum_assignment(cost)
    ok = inside[rows, cols]
    out[rows[ok], cols[ok]] = True
    return out


def score_point_tracks(labels: PointLabels, pred: Mapping[int, Detections]) -> PointTrackingScores:
    """IDF1 of tracked boxes (`tracker_id` >= 0; others are ignored) on the labelled frames,
    a point and a box matching as `assign_points` pairs them.

    pred: the tracker's output by frame index; a labelled frame missing from it counts as a
    frame with no boxes (every labelled person missed there).
    """
    frames, pred_ids, num_pred, missed = [], set(), 0, 0
    found_as: dict[int, set[int]] = {int(i): set() for i in labels.identities}
    for frame, (gt_ids, points) in labels.frames.items():
        d = pred.get(frame)
        d = d[d.tracker_id >= 0] if d is not None else None
        if d is None or not len(d):
            missed += len(gt_ids)
            continue
        inside = assign_points(points, d.xyxy)
        missed += int((~inside.any(axis=1)).sum())
        num_pred += len(d)
        pred_ids.update(int(x) for x in d.tracker_id)
        for r, c in zip(*np.nonzero(inside)):
            found_as[int(gt_ids[r])].add(int(d.tracker_id[c]))
        frames.append((gt_ids, d.tracker_id, inside))
    num_gt = sum(len(ids) for ids, _ in labels.frames.values())
    score, idtp, idfp, idfn = identity_f1(frames, num_gt, num_pred, labels.identities, pred_ids)
    seen = [len(v) for v in found_as.values() if v]
    return PointTrackingScores(score, idtp, idfp, idfn, num_gt, num_pred,
                               float(np.mean(seen)) if seen else float("nan"), missed)
