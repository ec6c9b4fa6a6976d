"""FrameBatch: the decoded frames of one chunk, one array per field (a row per frame)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np


@dataclass(frozen=True)
class FrameBatch:
    """Frames of one stream in presentation order.

    `images` is (n, H, W, 3) uint8 RGB at the analysis size the decoder was asked for;
    `frame_index` (n,) int64 counts frames from the start of the stream; `pts` (n,) int64 is in
    `time_base` seconds.
    """

    stream_id: str
    images: np.ndarray
    frame_index: np.ndarray
    pts: np.ndarray
    time_base: Fraction

    def __post_init__(self) -> None:
        n = len(self.frame_index)
        if self.images.dtype != np.uint8 or self.images.ndim != 4 or self.images.shape[3] != 3:
            raise ValueError(
                f"images must be (n, H, W, 3) uint8, got {self.images.shape} {self.images.dtype}"
            )
        if self.images.shape[0] != n or self.pts.shape != (n,) or self.frame_index.shape != (n,):
            raise ValueError(
                f"images, frame_index and pts must have one row per frame: got "
                f"{self.images.shape[0]}, {self.frame_index.shape}, {self.pts.shape}"
            )

    def __len__(self) -> int:
        return len(self.frame_index)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the images."""
        return int(self.images.shape[2]), int(self.images.shape[1])

    def seconds(self) -> np.ndarray:
        """Presentation times in seconds, (n,) float64."""
        return self.pts.astype(np.float64) * float(self.time_base)

    @classmethod
    def empty(cls, stream_id: str, size: tuple[int, int], time_base: Fraction) -> FrameBatch:
        w, h = size
        return cls(
            stream_id,
            np.empty((0, h, w, 3), np.uint8),
            np.empty(0, np.int64),
            np.empty(0, np.int64),
            time_base,
        )
