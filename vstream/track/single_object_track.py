"""One track and its state machine.

    NEW ──matched next frame──▶ TRACKED ◀──matched── LOST
     │                            │ unmatched         │ unmatched for more than max_time_lost
     └──unmatched──▶ REMOVED ◀────┴───────────────────┘
                                 (TRACKED ─▶ LOST first)

Tracks born in the tracker's first frame start TRACKED (ByteTrack's rule). A track gets its public
id when it first becomes TRACKED, so unconfirmed one-frame tracks use no ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum

import numpy as np

from vstream.track.kalman_filter import xyah_to_xyxy


class TrackState(Enum):
    NEW = "new"
    TRACKED = "tracked"
    LOST = "lost"
    REMOVED = "removed"


class SingleObjectTrack:
    """Kalman state plus bookkeeping for one object. The tracker batches the Kalman steps and
    writes `mean`/`cov` back; the track itself only moves between states."""

    __slots__ = ("mean", "cov", "state", "track_id", "score", "class_id", "embedding",
                 "frame_id", "start_frame", "tracklet_len", "det_index")

    def __init__(self, mean: np.ndarray, cov: np.ndarray, score: float, class_id: int,
                 embedding: np.ndarray | None, frame_id: int, det_index: int) -> None:
        self.mean = mean
        self.cov = cov
        self.state = TrackState.NEW
        self.track_id = -1
        self.score = score
        self.class_id = class_id
        self.embedding = None if embedding is None else _unit(embedding)
        self.frame_id = frame_id
        self.start_frame = frame_id
        self.tracklet_len = 0
        self.det_index = det_index  # row of the current frame's detections this track took

    @property
    def is_confirmed(self) -> bool:
        return self.track_id != -1

    @property
    def xyxy(self) -> np.ndarray:
        return xyah_to_xyxy(self.mean[None, :4])[0]

    def confirm(self, ids: Iterator[int]) -> None:
        self.state = TrackState.TRACKED
        if self.track_id == -1:
            self.track_id = int(next(ids))

    def take(self, frame_id: int, score: float, class_id: int, embedding: np.ndarray | None,
             det_index: int, ids: Iterator[int], embedding_momentum: float) -> None:
        """Record the detection this track matched (its Kalman update is done by the caller)."""
        if self.state is TrackState.LOST:
            self.tracklet_len = 0
        else:
            self.tracklet_len += 1
        self.frame_id = frame_id
        self.score = score
        self.class_id = class_id
        self.det_index = det_index
        if embedding is not None:
            e = _unit(embedding)
            self.embedding = e if self.embedding is None else _unit(
                embedding_momentum * self.embedding + (1 - embedding_momentum) * e)
        self.confirm(ids)

    def mark_lost(self) -> None:
        self.state = TrackState.LOST

    def mark_removed(self) -> None:
        self.state = TrackState.REMOVED

    def __repr__(self) -> str:
        return f"SingleObjectTrack(id={self.track_id}, {self.state.value}, frame={self.frame_id})"


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float32)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v
