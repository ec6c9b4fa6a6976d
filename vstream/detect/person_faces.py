"""Which face a person box carries: the rule both frame models follow, so a body's identity
embedding means the same thing whichever model made it.

A person box carries the embedding of the face it contains (of the faces with at least
FACE_INSIDE of their area inside it, the one most inside) or an all-zero row, "appearance
unknown", when it contains none. A body seen without its face has no identity of its own: on a
fixed camera faces are a few pixels wide, and a body vector learnt from faces (the unified
network's person embedding is distilled from the faces inside person boxes) is nearly the same
for everyone there, so it would make every walker one person. Bodies are tracked by clothing
colour instead (`vstream.track.body_appearance`).
"""

from __future__ import annotations

import numpy as np

#: a face is "inside" a person box when this fraction of its area is
FACE_INSIDE = 0.8


def face_coverage(faces: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(n_faces, n_boxes) fraction of each face box's area that lies inside each box."""
    faces = np.asarray(faces, np.float64).reshape(-1, 4)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    iw = np.minimum(faces[:, None, 2], boxes[None, :, 2]) - np.maximum(faces[:, None, 0], boxes[None, :, 0])
    ih = np.minimum(faces[:, None, 3], boxes[None, :, 3]) - np.maximum(faces[:, None, 1], boxes[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area = np.clip(faces[:, 2] - faces[:, 0], 0, None) * np.clip(faces[:, 3] - faces[:, 1], 0, None)
    return (inter / np.maximum(area, 1e-9)[:, None]).astype(np.float32)


def person_face_rows(faces: np.ndarray, people: np.ndarray) -> np.ndarray:
    """(n_people,) int64: the row of `faces` (n, 4) each of `people` (m, 4) carries, -1 for none."""
    cover = face_coverage(faces, people)
    rows = np.full(cover.shape[1], -1, np.int64)
    if cover.size:
        inside = cover >= FACE_INSIDE
        best = np.where(inside, cover, -1.0).argmax(axis=0)
        has = inside[best, np.arange(cover.shape[1])]
        rows[has] = best[has]
    return rows
