"""A shot detector that answers from a script, and frames to feed it: for tests of what
composes detectors (the scene-length filters, the Segmenter)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from vstream.decode.frames import FrameBatch
from vstream.segment.detector import Boundary

TIME_BASE = Fraction(1, 25)  # pts 1 apart: 25 fps


def batch(lo: int, hi: int, step: int = 1, first: int = 0) -> FrameBatch:
    """Black frames lo..hi-1 (frame_index offset by `first`), pts `step` ticks apart."""
    idx = np.arange(lo, hi, dtype=np.int64)
    return FrameBatch("s", np.zeros((hi - lo, 9, 16, 3), np.uint8), idx + first, idx * step,
                      TIME_BASE)


class ScriptedDetector:
    """A settling detector that answers from a script: per push, (boundaries, settled)."""

    name = "scripted"
    input_size = (16, 9)

    def __init__(self, script: list[tuple[list[Boundary], int]], last: list[Boundary]) -> None:
        self.script, self.last, self.settled = list(script), last, 0

    def push(self, frames: FrameBatch) -> list[Boundary]:
        found, self.settled = self.script.pop(0)
        return found

    def flush(self) -> list[Boundary]:
        return self.last

    def settled_until(self) -> int:
        return self.settled

    def reset(self) -> None: ...

    def state(self) -> dict:
        return {}

    def load_state(self, state: dict) -> None: ...
