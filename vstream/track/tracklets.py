"""Tracklets: the part of one track inside one scene, built from tracked analysed frames.

A track that crosses a cut is split there: people are identified, counted and described per
scene, and a box that happens to continue across a hard cut is not evidence of one person.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vstream.detections import NO_TRACK, Detections

#: embeddings kept per tracklet: enough for a stable mean, bounded however long the scene is
MAX_EMBEDDINGS = 32


@dataclass(frozen=True, eq=False)
class FrameRecord:
    """One analysed frame: its index and time, and its tracked detections (boxes in pixels of
    an image `size` = (width, height))."""

    frame_index: int
    t_s: float
    detections: Detections
    size: tuple[int, int]
    tag_scores: np.ndarray | None = None


@dataclass(eq=False)
class Tracklet:
    """One track's detections within one scene."""

    track_id: int
    class_id: int
    frames: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)  # normalised xyxy, one per frame
    embeddings: list[np.ndarray] = field(default_factory=list)
    person_id: str = ""

    @property
    def first_frame(self) -> int:
        return self.frames[0]

    @property
    def last_frame(self) -> int:
        return self.frames[-1]

    def box_at(self, frame: int) -> np.ndarray | None:
        try:
            return self.boxes[self.frames.index(frame)]
        except ValueError:
            return None


def build_tracklets(records: list[FrameRecord]) -> list[Tracklet]:
    """Tracklets of the tracked detections in `records` (one scene's frames, in order), ordered
    by first appearance then track ID."""
    by_id: dict[int, Tracklet] = {}
    for rec in records:
        d = rec.detections
        scale = np.array([rec.size[0], rec.size[1]] * 2, np.float32)
        for i in range(len(d)):
            tid = int(d.tracker_id[i])
            if tid == NO_TRACK:
                continue
            t = by_id.setdefault(tid, Tracklet(tid, int(d.class_id[i])))
            t.frames.append(rec.frame_index)
            t.times.append(rec.t_s)
            t.boxes.append(d.xyxy[i] / scale)
            if d.embedding is not None and len(t.embeddings) < MAX_EMBEDDINGS:
                t.embeddings.append(d.embedding[i])
    return sorted(by_id.values(), key=lambda t: (t.first_frame, t.track_id))


def containment(inner: Tracklet, outer: Tracklet) -> float:
    """Fraction of `inner`'s frames in which its box centre lies inside `outer`'s box (a face
    inside a body)."""
    hits = 0
    for frame, box in zip(inner.frames, inner.boxes):
        o = outer.box_at(frame)
        if o is not None:
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            hits += int(o[0] <= cx <= o[2] and o[1] <= cy <= o[3])
    return hits / len(inner.frames)
