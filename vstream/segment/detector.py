"""The interface every shot detector implements, in the spirit of PySceneDetect's SceneDetector.

A detector is fed the frames of one stream in order, a batch at a time, and answers with the
boundaries it is sure of so far. Detectors that need look-ahead (TransNetV2 looks 25 frames ahead)
answer late; `flush()` at the end of the stream returns what is still pending. A detector that
can also say how far its answers are final (`SettlingShotDetector`) can be followed by a filter
that holds a boundary only as long as a rival can still come (`MinSceneLengthFilter`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from vstream.decode.frames import FrameBatch


@dataclass(frozen=True, order=True)
class Boundary:
    """A new shot starts at `frame` (index from the start of the stream).

    `score` is the detector's confidence in [0, 1] (or its raw score where it has no
    probability); `kind` is "cut" for an abrupt change and "gradual" for a dissolve or fade.
    """

    frame: int
    score: float = 1.0
    kind: str = "cut"


class ShotDetector(Protocol):
    """Swappable shot detector. One instance follows one stream."""

    #: short name stored with the rows (part of model_version), e.g. "fast", "neural"
    name: str
    #: (width, height) of the frames the detector wants; the decoder resizes to it
    input_size: tuple[int, int]

    def push(self, frames: FrameBatch) -> list[Boundary]:
        """Consume the next frames of the stream; return boundaries now decided, in order."""
        ...

    def flush(self) -> list[Boundary]:
        """End of stream: return the boundaries still pending."""
        ...

    def reset(self) -> None:
        """Forget the stream, ready for a new one."""
        ...

    def state(self) -> dict:
        """The stream's state as plain data (arrays, numbers, lists; never a model), for a
        checkpoint at a chunk boundary."""
        ...

    def load_state(self, state: dict) -> None:
        """Continue the stream `state()` was taken from (same detector kind and settings)."""
        ...


@runtime_checkable
class SettlingShotDetector(ShotDetector, Protocol):
    """A ShotDetector that also says how far its answers are final."""

    def settled_until(self) -> int:
        """Frame index below which every boundary has been returned: any boundary still to
        come lies at or after it."""
        ...
