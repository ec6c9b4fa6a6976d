"""Faces and bodies: two rules both frame models follow, so a person box means the same thing
whichever model made it.

A face that no person box contains gets a head-and-shoulders person box around it
(`head_and_shoulders`): in close-ups the body is out of the frame, so a body detector finds
nothing there, yet a user counting people in view, or asking when p2 appears, counts that
person. The teachers have always done this; the unified network learnt those boxes as targets
and scored them low (median 0.42 on the test video's true persons), so it missed half the
persons of the music video. Applying the rule to its own faces instead of learning it gives
those boxes back wherever it finds the face.

The unified network also, on close-ups, puts a person box about the size of the face inside
the body box; such a box (`face_sized_people`) is the face taken for a person, and the student
drops it before the rule above, which gives the face its head-and-shoulders box when no body
contains it.

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

from vstream.detect.labels import FACE, PERSON

#: a face is "inside" a person box when this fraction of its area is
FACE_INSIDE = 0.8
#: a person box at most this many face areas around a face it contains is that face taken for a
#: person, not a body: a standing body's box is about 17 face areas, a head-and-shoulders box 10.
#: The unified network puts such boxes inside the body box of a close-up (docs/models.md,
#: "Nested person boxes"), and a count would see two people.
FACE_SIZED_PERSON = 2.5
#: head-and-shoulders box from a face box, in face widths (x) and heights (y): 3 face widths
#: across (shoulder to shoulder is about 2.5-3 head widths), from half a face above the face box
#: (hair, which MTCNN boxes cut) to two faces below it (shoulders and upper chest)
HEAD_AND_SHOULDERS = (1.0, 0.5, 1.0, 2.0)


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


def face_sized_people(faces: np.ndarray, people: np.ndarray) -> np.ndarray:
    """(m,) bool: which of `people` (m, 4) contain a face of `faces` (n, 4) (FACE_INSIDE) and
    are at most FACE_SIZED_PERSON times its area."""
    faces = np.asarray(faces, np.float32).reshape(-1, 4)
    people = np.asarray(people, np.float32).reshape(-1, 4)
    inside = face_coverage(faces, people) >= FACE_INSIDE
    face_area = (faces[:, 2] - faces[:, 0]) * (faces[:, 3] - faces[:, 1])
    person_area = (people[:, 2] - people[:, 0]) * (people[:, 3] - people[:, 1])
    return (inside & (person_area[None, :] <= FACE_SIZED_PERSON * face_area[:, None])).any(axis=0)


def lonely_faces(faces: np.ndarray, people: np.ndarray) -> np.ndarray:
    """Rows of `faces` (n, 4) that no box of `people` (m, 4) contains (FACE_INSIDE)."""
    cover = face_coverage(faces, people)
    return np.flatnonzero(~(cover >= FACE_INSIDE).any(axis=1))


def head_and_shoulders(face_xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
    """Person boxes (n, 4) float32 around face boxes (n, 4) xyxy, clipped to a width x height
    frame: `HEAD_AND_SHOULDERS` face sizes left, above, right and below the face box."""
    f = np.asarray(face_xyxy, np.float32).reshape(-1, 4)
    fw, fh = f[:, 2] - f[:, 0], f[:, 3] - f[:, 1]
    left, up, right, down = HEAD_AND_SHOULDERS
    box = np.stack([f[:, 0] - left * fw, f[:, 1] - up * fh, f[:, 2] + right * fw, f[:, 3] + down * fh], 1)
    return np.clip(box, 0, [width, height, width, height]).astype(np.float32)


def face_rule_people(xyxy: np.ndarray, confidence: np.ndarray, class_id: np.ndarray,
                     width: int, height: int, tolerance: float = 1.0) -> np.ndarray:
    """(n,) bool: the person rows of one frame's detections that the face rule made, i.e. the
    `head_and_shoulders` box (within `tolerance` pixels, clipped to width x height) of a face of
    the same frame with the same confidence. Teacher caches keep boxes, not their origin; the
    distillation trains the student's person heatmap on bodies only and leaves these boxes to
    the rule, which the student applies to its own faces at run time."""
    xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
    faces = np.flatnonzero(class_id == FACE)
    out = np.zeros(len(xyxy), bool)
    if not len(faces):
        return out
    derived = head_and_shoulders(xyxy[faces], width, height)
    for i in np.flatnonzero(class_id == PERSON):
        same = (np.abs(derived - xyxy[i]).max(axis=1) <= tolerance) & (confidence[faces] == confidence[i])
        out[i] = bool(same.any())
    return out
