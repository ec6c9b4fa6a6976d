"""MinSceneLengthFilter: no scene shorter than a minimum length, composed after a detector."""

from __future__ import annotations

from typing import Generic, TypeVar

from vstream.decode.frames import FrameBatch
from vstream.segment.detector import Boundary
from vstream.segment.frame_rate import FrameRateProbe

B = TypeVar("B", bound=Boundary)


class MinSceneLengthFilter(Generic[B]):
    """Of two boundaries closer than `seconds`, the stronger wins (the earlier on a tie); none
    comes sooner than `seconds` after the stream's first frame (shot one is that long too).

    A boundary is held until no rival can come: until the detector before the filter has
    answered everything up to `seconds` after it (`settled` in `filter`), or the stream ends.
    The frame rate comes from the first two pts, as the detector's does, or is given as `fps`.
    """

    def __init__(self, seconds: float, fps: float | None = None) -> None:
        if not seconds >= 0:
            raise ValueError(f"min_scene_len must be >= 0 seconds, got {seconds}")
        self.seconds = float(seconds)
        self._rate = FrameRateProbe(fps)
        self.reset()

    def reset(self) -> None:
        """Forget the stream."""
        self._rate.reset()
        self._first_frame: int | None = None
        self._held: B | None = None  # passed, waits out the minimum length for a rival
        self._settled = 0

    @property
    def min_frames(self) -> int:
        """The minimum scene length in frames (0 until the stream's frame rate is known)."""
        fps = self._rate.fps
        return int(round(self.seconds * fps)) if fps is not None else 0

    def observe(self, frames: FrameBatch) -> None:
        """Learn the stream's first frame and frame rate from its next frames (before `filter`)."""
        if len(frames) and self._first_frame is None:
            self._first_frame = int(frames.frame_index[0])
        self._rate.observe(frames)

    def filter(self, boundaries: list[B], settled: int) -> list[B]:
        """The boundaries that stand, from the next in-order `boundaries` of the detector;
        `settled` is the frame index below which the detector will report nothing more."""
        self._settled = settled
        out = self._admit(boundaries)
        held = self._held
        if held is not None and held.frame + self.min_frames < settled:
            out.append(held)
            self._held = None
        return out

    def flush(self, boundaries: list[B]) -> list[B]:
        """End of stream: the boundaries that stand from the detector's last ones."""
        out = self._admit(boundaries)
        if self._held is not None:
            out.append(self._held)
            self._held = None
        return out

    def settled_until(self) -> int:
        """Frame index below which every boundary has passed the filter (or never will)."""
        held = self._held
        return min(self._settled, held.frame) if held is not None else self._settled

    def _admit(self, boundaries: list[B]) -> list[B]:
        if boundaries and self._first_frame is None:
            raise ValueError("MinSceneLengthFilter: observe() the stream's frames before "
                             "filtering their boundaries")
        first, min_frames = self._first_frame or 0, self.min_frames
        out: list[B] = []
        for b in boundaries:
            if b.frame - first < min_frames:
                continue
            held = self._held
            if held is not None and b.frame - held.frame < min_frames:
                if b.score > held.score:
                    self._held = b
                continue
            if held is not None:
                out.append(held)
            self._held = b
        return out

    def state(self) -> dict:
        """The boundary held and what was learnt of the stream, as plain data."""
        return {"rate": self._rate.state(), "first_frame": self._first_frame,
                "held": self._held, "settled": self._settled}

    def load_state(self, state: dict) -> None:
        """Continue the stream `state()` was taken from."""
        self._rate.load_state(state["rate"])
        self._first_frame = state["first_frame"]
        self._held = state["held"]
        self._settled = int(state["settled"])
