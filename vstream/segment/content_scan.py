"""ContentScan: one stream's frames into one FeatureRing, read by the finders of several
threshold sets (the fast detector has one; the combined detector a strict and a sensitive one)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vstream.decode.frames import FrameBatch
from vstream.segment.candidate import Candidate
from vstream.segment.content_params import ContentParams, FrameSpans
from vstream.segment.feature_ring import FeatureRing
from vstream.segment.frame_rate import FrameRateProbe
from vstream.segment.transition_finder import TransitionFinder


class ContentScan:
    """Feeds a stream's frames to a FeatureRing (features computed once per frame) and runs a
    TransitionFinder per `ContentParams` over it; answers are per finder, in `params` order.

    The ring is sized once the frame rate is known: `fps`, or else the first two pts (a lone
    first frame waits for the next batch). Frames go in chunks of at most the ring's look-back,
    so a chunk never overwrites frames a rule still reads; the answers do not depend on where
    chunks (or batches) end.
    """

    def __init__(self, input_size: tuple[int, int], params: Sequence[ContentParams], *,
                 fps: float | None = None, bins: int = 16, edge_threshold: int = 48) -> None:
        if not params:
            raise ValueError("ContentScan needs at least one ContentParams")
        if len({p.gradual_span_s for p in params}) > 1:
            raise ValueError("params that share a FeatureRing must agree on gradual_span_s "
                             f"(its long-range distance), got {[p.gradual_span_s for p in params]}")
        self.input_size = input_size
        self.params = tuple(params)
        self._bins = bins
        self._edge_threshold = edge_threshold
        self._probe = FrameRateProbe(fps)
        self.reset()

    def reset(self) -> None:
        """Forget the stream."""
        self._probe.reset()
        self._waiting: FrameBatch | None = None  # a lone first frame, waiting for a second pts
        self._ring: FeatureRing | None = None
        self._finders: list[TransitionFinder] = []

    def push(self, frames: FrameBatch) -> list[list[Candidate]]:
        """Consume the next frames; per finder, the candidates now settled, in frame order."""
        if len(frames) == 0:
            return self._nothing()
        if frames.size != self.input_size:
            raise ValueError(
                f"frames are {frames.size} but this detector wants {self.input_size}: decode at "
                f"input_size or construct the detector with input_size={frames.size}")
        if self._ring is None:
            fps = self._probe.observe(frames)
            if self._waiting is not None:
                frames = _joined(self._waiting, frames)
                self._waiting = None
            if fps is None:
                self._waiting = frames
                return self._nothing()
            self._start(fps)
        ring = self._ring
        assert ring is not None
        features = ring.features(frames)
        for lo in range(0, len(frames), ring.keep):
            ring.append(features, frames.frame_index, lo, min(lo + ring.keep, len(frames)))
            for finder in self._finders:
                finder.scan(ring, final=False)
        return [finder.take(ring, final=False) for finder in self._finders]

    def flush(self) -> list[list[Candidate]]:
        """End of stream: per finder, what look-ahead was waiting for."""
        ring = self._ring
        if ring is None or ring.n == 0:
            return self._nothing()
        for finder in self._finders:
            finder.scan(ring, final=True)
        return [finder.take(ring, final=True) for finder in self._finders]

    def settled_until(self) -> list[int]:
        """Per finder, the frame index below which it has answered everything."""
        ring = self._ring
        if ring is None or ring.n == 0:
            return [0] * len(self.params)
        return [finder.settled_until(ring) for finder in self._finders]

    def oldest_readable(self) -> int | None:
        """Frame index of the oldest frame the decisions can still read (the feature ring keeps
        the last `look_back` frames, and no candidate starts before them); None before the
        frame rate is known."""
        ring = self._ring
        if ring is None:
            return None
        return max(0, ring.n - ring.keep) + (ring.offset or 0)

    def state(self) -> dict:
        """The stream's state as plain data: the frame rate learnt, a waiting first frame, the
        ring's filled rows and the finders' open decisions."""
        return {"rate": self._probe.state(), "waiting": self._waiting,
                "ring": self._ring.state() if self._ring is not None else None,
                "finders": [finder.state() for finder in self._finders]}

    def load_state(self, state: dict) -> None:
        """Continue the stream `state()` was taken from (same settings)."""
        self.reset()
        self._probe.load_state(state["rate"])
        self._waiting = state["waiting"]
        if state["ring"] is None:
            return
        assert self._probe.fps is not None
        self._start(self._probe.fps)
        assert self._ring is not None
        self._ring.load_state(state["ring"])
        for finder, saved in zip(self._finders, state["finders"]):
            finder.load_state(saved)

    def _start(self, fps: float) -> None:
        spans = [FrameSpans.at(p, fps) for p in self.params]
        self._ring = FeatureRing(self.input_size, span=spans[0].span,
                                 keep=max(s.look_back for s in spans), bins=self._bins,
                                 edge_threshold=self._edge_threshold)
        self._finders = [TransitionFinder(p, s) for p, s in zip(self.params, spans)]

    def _nothing(self) -> list[list[Candidate]]:
        return [[] for _ in self.params]


def _joined(first: FrameBatch, then: FrameBatch) -> FrameBatch:
    return FrameBatch(
        then.stream_id,
        np.concatenate([first.images, then.images]),
        np.concatenate([first.frame_index, then.frame_index]),
        np.concatenate([first.pts, then.pts]),
        then.time_base,
    )
