"""MaxSceneLengthFilter: no scene longer than a maximum length, composed after a detector.

A fixed camera never cuts: without a maximum, its whole day is one scene, whose row (and the
tracks in it) would reach the store when the camera stops, and whose analysed frames the
stream would hold all day. With one, the day becomes scenes of at most that length, closed
as the day goes on, and the memory a stream holds stays bounded.
"""

from __future__ import annotations

from vstream.decode.frames import FrameBatch
from vstream.segment.detector import Boundary
from vstream.segment.frame_rate import FrameRateProbe

#: `Boundary.kind` of a cut made because the scene reached the maximum length
LENGTH = "length"


class MaxSceneLengthFilter:
    """Passes the boundaries before it on, and adds one (kind "length") wherever a scene would
    otherwise last longer than `seconds`: at the scene's start plus `seconds`.

    A forced cut waits until the detector before the filter has settled past it (`settled` in
    `filter`: no boundary can still come before it), so a real cut shortly before is never
    lost; the scene closes as soon as the detector's look-ahead allows. The frame rate comes
    from the first two pts, as the detectors' does. `seconds` 0 adds nothing.
    """

    def __init__(self, seconds: float, fps: float | None = None) -> None:
        if not seconds >= 0:
            raise ValueError(f"max_scene_s must be >= 0 seconds, got {seconds}")
        self.seconds = float(seconds)
        self._rate = FrameRateProbe(fps)
        self.reset()

    def reset(self) -> None:
        """Forget the stream."""
        self._rate.reset()
        self._start: int | None = None  # the open scene's first frame

    @property
    def max_frames(self) -> int:
        """The maximum scene length in frames (0: none, or the frame rate is not known yet)."""
        fps = self._rate.fps
        return int(round(self.seconds * fps)) if fps is not None else 0

    def observe(self, frames: FrameBatch) -> None:
        """Learn the stream's first frame and frame rate from its next frames (before `filter`)."""
        if len(frames) and self._start is None:
            self._start = int(frames.frame_index[0])
        self._rate.observe(frames)

    def filter(self, boundaries: list[Boundary], settled: int) -> list[Boundary]:
        """The next in-order `boundaries`, with the forced cuts before each and before
        `settled` (the frame index below which the detector will report nothing more)."""
        out: list[Boundary] = []
        for b in boundaries:
            out += self._forced_before(b.frame)
            out.append(b)
            self._start = b.frame
        return out + self._forced_before(settled)

    def flush(self, boundaries: list[Boundary], end: int) -> list[Boundary]:
        """End of stream (`end`: one past its last frame): the forced cuts left."""
        return self.filter(boundaries, end)

    def state(self) -> dict:
        """What was learnt of the stream, as plain data."""
        return {"rate": self._rate.state(), "start": self._start}

    def load_state(self, state: dict) -> None:
        """Continue the stream `state()` was taken from."""
        self._rate.load_state(state["rate"])
        self._start = state["start"]

    def _forced_before(self, frame: int) -> list[Boundary]:
        step, out = self.max_frames, []
        if step <= 0 or self._start is None:
            return out
        while self._start + step < frame:
            self._start += step
            out.append(Boundary(self._start, 1.0, LENGTH))
        return out
