"""FrameRateProbe: a stream's frame rate from the pts of its first two frames."""

from __future__ import annotations

from fractions import Fraction

from vstream.decode.frames import FrameBatch

#: the rate taken when the first two pts are broken or repeated: the most common broadcast rate
FALLBACK_FPS = 25.0


class FrameRateProbe:
    """Learns one stream's frame rate from its first two frames, whichever batches bring them;
    a rate given up front is taken as it is."""

    def __init__(self, fps: float | None = None) -> None:
        if fps is not None and not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self._given = None if fps is None else float(fps)
        self.reset()

    def reset(self) -> None:
        """Forget the stream."""
        self.fps: float | None = self._given
        self._first_pts: int | None = None

    def observe(self, frames: FrameBatch) -> float | None:
        """Learn from the stream's next frames; return the frame rate once it is known."""
        if self.fps is None and len(frames):
            if self._first_pts is None:
                self._first_pts = int(frames.pts[0])
                if len(frames) >= 2:
                    self.fps = _fps(int(frames.pts[1]) - self._first_pts, frames.time_base)
            else:
                self.fps = _fps(int(frames.pts[0]) - self._first_pts, frames.time_base)
        return self.fps

    def state(self) -> dict:
        """What was learnt, as plain data."""
        return {"fps": self.fps, "first_pts": self._first_pts}

    def load_state(self, state: dict) -> None:
        """Continue the stream `state()` was taken from."""
        self.fps, self._first_pts = state["fps"], state["first_pts"]


def _fps(delta_pts: int, time_base: Fraction) -> float:
    seconds = delta_pts * float(time_base)
    return 1.0 / seconds if seconds > 0 else FALLBACK_FPS
