"""Tracking accuracy: CLEAR MOT (MOTA) and identity F1 (IDF1), as py-motmetrics computes them.

Inputs are per-frame `Detections` lists of equal length: ground truth with `tracker_id` = GT
identity and predictions with `tracker_id` = track id. A GT box and a predicted box can match
when IoU >= iou_threshold (0.5).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from vstream.detections import Detections
from vstream.kernels import iou_matrix


@dataclass(frozen=True)
class TrackingScores:
    mota: float
    idf1: float
    num_gt: int  # GT boxes over all frames
    num_pred: int
    fn: int
    fp: int
    id_switches: int
    idtp: int
    idfp: int
    idfn: int

    def __str__(self) -> str:
        return (f"MOTA {self.mota:.3f} IDF1 {self.idf1:.3f} (GT {self.num_gt}, FN {self.fn}, FP {self.fp}, "
                f"IDSW {self.id_switches}; IDTP {self.idtp}, IDFP {self.idfp}, IDFN {self.idfn})")


def _check(gt: Sequence[Detections], pred: Sequence[Detections]) -> None:
    if len(gt) != len(pred):
        raise ValueError(f"gt and pred must have one Detections per frame each, got {len(gt)} and {len(pred)} frames")
    for name, frames in (("gt", gt), ("pred", pred)):
        for i, d in enumerate(frames):
            if len(d) and (d.tracker_id < 0).any():
                raise ValueError(f"{name} frame {i} has rows without tracker_id: filter them out first")


def clear_mot(gt: Sequence[Detections], pred: Sequence[Detections], iou_threshold: float = 0.5
              ) -> tuple[float, int, int, int, int]:
    """MOTA = 1 - (FN + FP + IDSW) / GT; returns (mota, num_gt, fn, fp, id_switches).

    Per frame: a GT object keeps the prediction it was last matched to when they still overlap
    enough; the rest are matched by minimum 1 - IoU (Hungarian). A switch is a GT object matched
    to a different prediction than at its last match (any earlier frame).
    """
    _check(gt, pred)
    last: dict[int, int] = {}
    num_gt = fn = fp = idsw = 0
    for g, p in zip(gt, pred):
        num_gt += len(g)
        dist = 1.0 - iou_matrix(g.xyxy, p.xyxy).astype(np.float64) if len(g) and len(p) else np.ones((len(g), len(p)))
        feasible = dist <= 1.0 - iou_threshold
        g_ids, p_ids = g.tracker_id.tolist(), p.tracker_id.tolist()
        matched_g: dict[int, int] = {}  # gt row -> pred row
        used_p: set[int] = set()
        for i, gid in enumerate(g_ids):  # 1. keep last correspondences
            if gid in last and last[gid] in p_ids:
                j = p_ids.index(last[gid])
                if feasible[i, j] and j not in used_p:
                    matched_g[i] = j
                    used_p.add(j)
        free_g = [i for i in range(len(g_ids)) if i not in matched_g]
        free_p = [j for j in range(len(p_ids)) if j not in used_p]
        if free_g and free_p:  # 2. Hungarian on the rest
            sub = np.where(feasible[np.ix_(free_g, free_p)], dist[np.ix_(free_g, free_p)], 1e6)
            rows, cols = linear_sum_assignment(sub)
            for r, c in zip(rows, cols):
                if sub[r, c] < 1e6:
                    i, j = free_g[r], free_p[c]
                    if g_ids[i] in last and last[g_ids[i]] != p_ids[j]:
                        idsw += 1
                    matched_g[i] = j
        for i, j in matched_g.items():
            last[g_ids[i]] = p_ids[j]
        fn += len(g_ids) - len(matched_g)
        fp += len(p_ids) - len(matched_g)
    mota = 1.0 - (fn + fp + idsw) / num_gt if num_gt else float("nan")
    return mota, num_gt, fn, fp, idsw


def idf1(gt: Sequence[Detections], pred: Sequence[Detections], iou_threshold: float = 0.5
         ) -> tuple[float, int, int, int]:
    """IDF1 = 2 IDTP / (2 IDTP + IDFP + IDFN); returns (idf1, idtp, idfp, idfn).

    Identities are matched once for the whole sequence (min-cost bipartite matching: each GT
    identity to at most one predicted identity); IDTP counts frames where matched identities
    overlap with IoU >= iou_threshold.
    """
    _check(gt, pred)
    frames = ((g.tracker_id, p.tracker_id, iou_matrix(g.xyxy, p.xyxy) >= iou_threshold)
              for g, p in zip(gt, pred) if len(g) and len(p))
    return identity_f1(frames, sum(len(d) for d in gt), sum(len(d) for d in pred),
                       {int(x) for d in gt for x in d.tracker_id},
                       {int(x) for d in pred for x in d.tracker_id})


def identity_f1(frames: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]], num_gt: int,
                num_pred: int, gt_ids: set[int], pred_ids: set[int]) -> tuple[float, int, int, int]:
    """IDF1 from per-frame matches, whatever decides a match (box IoU, a point inside a box).

    frames: (gt identity per GT row, predicted identity per predicted row, (n_gt, n_pred) bool
    "these two can be the same object here"), one per frame with both; num_gt / num_pred: rows
    over all frames; gt_ids / pred_ids: every identity. Returns (idf1, idtp, idfp, idfn).
    """
    g_index = {k: i for i, k in enumerate(sorted(gt_ids))}
    p_index = {k: i for i, k in enumerate(sorted(pred_ids))}
    overlap = np.zeros((len(g_index), len(p_index)), np.int64)
    for g_ids, p_ids, ok in frames:
        gi = np.array([g_index[int(x)] for x in g_ids], np.intp)
        pi = np.array([p_index[int(x)] for x in p_ids], np.intp)
        r, c = np.nonzero(ok)
        # one count per (GT identity, predicted identity) and frame
        pairs = np.unique(np.stack([gi[r], pi[c]], 1), axis=0) if len(r) else np.zeros((0, 2), np.intp)
        np.add.at(overlap, (pairs[:, 0], pairs[:, 1]), 1)
    # Unmatched identities cost all their boxes, a matched pair costs its non-overlapping boxes
    # on both sides: total = num_gt + num_pred - 2 * sum(matched overlaps), so maximise overlap.
    idtp = 0
    if overlap.size:
        rows, cols = linear_sum_assignment(-overlap)
        idtp = int(overlap[rows, cols].sum())
    idfp, idfn = num_pred - idtp, num_gt - idtp
    denom = 2 * idtp + idfp + idfn
    return (2 * idtp / denom if denom else float("nan")), idtp, idfp, idfn


def evaluate(gt: Sequence[Detections], pred: Sequence[Detections], iou_threshold: float = 0.5) -> TrackingScores:
    """MOTA and IDF1 together."""
    mota, num_gt, fn, fp, idsw = clear_mot(gt, pred, iou_threshold)
    score, idtp, idfp, idfn = idf1(gt, pred, iou_threshold)
    return TrackingScores(mota, score, num_gt, sum(len(d) for d in pred), fn, fp, idsw, idtp, idfp, idfn)
