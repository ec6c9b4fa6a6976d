"""Pure cost-matrix functions and linear assignment (as ByteTrack's `matching.py`).

Costs lie in [0, 1] (0 = certain match); a pair costing more than the threshold is never matched.
"""

from __future__ import annotations

import numpy as np

from vstream.kernels import iou_matrix, linear_sum_assignment

INFEASIBLE = 1.0e5


def iou_distance(track_xyxy: np.ndarray, det_xyxy: np.ndarray) -> np.ndarray:
    """(n_tracks, n_dets) float32 1 - IoU."""
    return 1.0 - iou_matrix(np.asarray(track_xyxy, np.float32).reshape(-1, 4),
                            np.asarray(det_xyxy, np.float32).reshape(-1, 4))


def fuse_score(iou_dist: np.ndarray, det_scores: np.ndarray) -> np.ndarray:
    """ByteTrack's fuse_score: 1 - IoU * score, so confident detections are preferred."""
    return 1.0 - (1.0 - iou_dist) * np.asarray(det_scores, np.float32)[None, :]


def cosine_distance(track_emb: np.ndarray, det_emb: np.ndarray) -> np.ndarray:
    """(n, m) float32 (1 - cosine similarity) / 2 in [0, 1] between rows (zero rows: 0.5)."""
    a = np.asarray(track_emb, np.float32)
    b = np.asarray(det_emb, np.float32)
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return np.clip((1.0 - a @ b.T) / 2.0, 0.0, 1.0).astype(np.float32)


def gate_appearance(cost: np.ndarray, iou_dist: np.ndarray, emb_dist: np.ndarray | None,
                    appearance_weight: float, appearance_thresh: float, iou_gate: float) -> np.ndarray:
    """Blend motion and appearance costs and veto implausible pairs.

    cost' = (1 - w) * cost + w * emb_dist. Pairs whose appearance distance exceeds
    `appearance_thresh` or whose raw IoU distance exceeds `iou_gate` become infeasible, so
    appearance can only choose among boxes that overlap, never pull a track across the frame.
    A NaN appearance distance means "appearance unknown" for that pair (a zero embedding: a
    person box with no face in it): the pair is judged by motion alone, never vetoed for it.
    Without embeddings `cost` is returned unchanged.
    """
    if emb_dist is None or cost.size == 0:
        return cost
    known = ~np.isnan(emb_dist)
    out = np.where(known, (1.0 - appearance_weight) * cost + appearance_weight * emb_dist, cost)
    out[(known & (emb_dist > appearance_thresh)) | (iou_dist > iou_gate)] = INFEASIBLE
    return out.astype(cost.dtype, copy=False)


def linear_assignment(cost: np.ndarray, thresh: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimum-cost one-to-one matching keeping pairs with cost <= thresh.

    Returns (matches (k, 2) [row, col], unmatched rows, unmatched cols), all intp. NaN costs are
    treated as infeasible.
    """
    n, m = cost.shape
    if n == 0 or m == 0:
        return np.empty((0, 2), np.intp), np.arange(n), np.arange(m)
    c = np.where(np.isfinite(cost) & (cost <= thresh), cost, INFEASIBLE).astype(np.float64)
    rows, cols = linear_sum_assignment(c)
    ok = c[rows, cols] <= thresh
    matches = np.column_stack([rows[ok], cols[ok]]).astype(np.intp)
    un_rows = np.setdiff1d(np.arange(n), matches[:, 0])
    un_cols = np.setdiff1d(np.arange(m), matches[:, 1])
    return matches, un_rows, un_cols
