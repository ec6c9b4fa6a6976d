"""`Detections`: the per-frame currency every stage takes and returns (as supervision's).

One NumPy array per field, one row per detection. Shapes and dtype kinds are checked on
construction; values are stored in canonical dtypes (float32 boxes, scores and embeddings, int32
classes, int64 tracker ids with -1 meaning "not tracked").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

NO_TRACK = -1


def _column(name: str, value: Any, n: int | None, tail: tuple[int, ...], dtype: type,
            kinds: str, layout: str) -> np.ndarray:
    a = np.asarray(value)
    if a.dtype.kind not in kinds or a.ndim != 1 + len(tail) or a.shape[1:] != tail or (
            n is not None and a.shape[0] != n):
        raise ValueError(f"{name} must be {layout} {np.dtype(dtype).name} (n = {n}), got shape "
                         f"{a.shape} {a.dtype}")
    return np.ascontiguousarray(a, dtype=dtype)


@dataclass(frozen=True, eq=False)
class Detections:
    """Detections in one frame.

    xyxy: (n, 4) float32 boxes x1, y1, x2, y2 in pixels.
    confidence: (n,) float32 scores (default 1).
    class_id: (n,) int32 classes (default 0).
    tracker_id: (n,) int64 track ids, -1 where none (default -1).
    embedding: optional (n, d) float32 appearance vectors (from the embedding head).
    data: per-detection extra columns, each an array with n rows.
    metadata: per-frame values (frame index, pts, ...).

    Float fields accept any float array and integer fields any integer array; they are
    converted to the canonical dtype. Other kinds and wrong shapes raise ValueError.
    """

    xyxy: np.ndarray
    confidence: np.ndarray | None = None
    class_id: np.ndarray | None = None
    tracker_id: np.ndarray | None = None
    embedding: np.ndarray | None = None
    data: dict[str, np.ndarray] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        xyxy = _column("xyxy", self.xyxy, None, (4,), np.float32, "fiu", "(n, 4)")
        n = len(xyxy)
        put = object.__setattr__
        put(self, "xyxy", xyxy)
        put(self, "confidence", np.ones(n, np.float32) if self.confidence is None else
            _column("confidence", self.confidence, n, (), np.float32, "fiu", "(n,)"))
        put(self, "class_id", np.zeros(n, np.int32) if self.class_id is None else
            _column("class_id", self.class_id, n, (), np.int32, "iu", "(n,)"))
        put(self, "tracker_id", np.full(n, NO_TRACK, np.int64) if self.tracker_id is None else
            _column("tracker_id", self.tracker_id, n, (), np.int64, "iu", "(n,)"))
        if self.embedding is not None:
            e = np.asarray(self.embedding)
            if e.ndim != 2:
                raise ValueError(f"embedding must be (n, d) float32 (n = {n}), got shape {e.shape} {e.dtype}")
            put(self, "embedding", _column("embedding", e, n, e.shape[1:], np.float32, "fiu", "(n, d)"))
        if not isinstance(self.data, dict) or not isinstance(self.metadata, dict):
            raise TypeError("data and metadata must be dicts")
        data = {}
        for key, value in self.data.items():
            v = np.asarray(value)
            if v.ndim == 0 or len(v) != n:
                raise ValueError(f"data[{key!r}] must have one row per detection (n = {n}), got shape {v.shape}")
            data[key] = v
        put(self, "data", data)
        put(self, "metadata", dict(self.metadata))

    # ------------------------------------------------------------------ constructors

    @classmethod
    def empty(cls, embedding_dim: int | None = None) -> Detections:
        """No detections (with a (0, embedding_dim) embedding when given)."""
        emb = None if embedding_dim is None else np.zeros((0, embedding_dim), np.float32)
        return cls(np.zeros((0, 4), np.float32), embedding=emb)

    @classmethod
    def merge(cls, items: Iterable[Detections]) -> Detections:
        """Rows of all `items` in order. Non-empty items must agree on having embeddings (same d)
        and on their data keys; metadata dicts are combined, later keys winning."""
        items = list(items)
        full = [d for d in items if len(d)]
        meta: dict[str, Any] = {}
        for d in items:
            meta.update(d.metadata)
        if not full:
            out = items[0] if items else cls.empty()
            return cls(out.xyxy, out.confidence, out.class_id, out.tracker_id, out.embedding, out.data, meta)
        with_emb = {d.embedding is not None for d in full}
        if len(with_emb) > 1:
            raise ValueError("cannot merge detections with and without embeddings: add embeddings to all or none")
        keys = {tuple(sorted(d.data)) for d in full}
        if len(keys) > 1:
            raise ValueError(f"cannot merge detections with different data columns: {sorted(keys)}")
        emb = np.concatenate([d.embedding for d in full]) if with_emb == {True} else None
        return cls(
            np.concatenate([d.xyxy for d in full]),
            np.concatenate([d.confidence for d in full]),
            np.concatenate([d.class_id for d in full]),
            np.concatenate([d.tracker_id for d in full]),
            emb,
            {k: np.concatenate([d.data[k] for d in full]) for k in full[0].data},
            meta,
        )

    # ------------------------------------------------------------------ access

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: int | slice | np.ndarray | list) -> Detections:
        """Rows selected by an int, a slice, an int array or a boolean mask of length n, as new
        Detections (metadata is kept). A string returns the data column of that name."""
        if isinstance(index, str):
            return self.data[index]
        if isinstance(index, (int, np.integer)):
            index = slice(index, index + 1 if index != -1 else None)
        elif not isinstance(index, slice):
            index = np.asarray(index)
            if index.dtype == bool:
                if index.shape != (len(self),):
                    raise ValueError(f"boolean mask must have shape ({len(self)},), got {index.shape}")
            elif index.size == 0:
                index = index.astype(np.intp)
            elif index.dtype.kind not in "iu":
                raise ValueError(f"index must be an int, slice, int array or boolean mask, got {index.dtype}")
        return Detections(
            self.xyxy[index], self.confidence[index], self.class_id[index], self.tracker_id[index],
            None if self.embedding is None else self.embedding[index],
            {k: v[index] for k, v in self.data.items()}, self.metadata,
        )

    def __iter__(self):
        raise TypeError("iterate over range(len(detections)) or the field arrays, not Detections")

    @property
    def area(self) -> np.ndarray:
        """(n,) float32 box areas (0 for inverted boxes)."""
        wh = np.clip(self.xyxy[:, 2:] - self.xyxy[:, :2], 0, None)
        return wh[:, 0] * wh[:, 1]

    def with_tracker_id(self, tracker_id: np.ndarray) -> Detections:
        """The same detections with `tracker_id` (n,) replaced."""
        return Detections(self.xyxy, self.confidence, self.class_id, tracker_id, self.embedding,
                          self.data, self.metadata)

    def __repr__(self) -> str:
        emb = "" if self.embedding is None else f", embedding d={self.embedding.shape[1]}"
        return f"Detections(n={len(self)}{emb}, data={sorted(self.data)}, metadata={sorted(self.metadata)})"
