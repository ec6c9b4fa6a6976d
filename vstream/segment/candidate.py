"""Candidate: a boundary with the frames its transition spans (what the content rules find)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from vstream.segment.detector import Boundary


@dataclass(frozen=True, order=True)
class Candidate(Boundary):
    """A Boundary with the frames the transition spans: [start, end) belong to neither shot
    alone (start == end == frame for a hard cut). Sorts and compares like a Boundary first."""

    start: int = -1
    end: int = -1
    #: the boundary a run of flat (black or white) frames reports for a whole fade
    fade: bool = field(default=False, compare=False)

    def shifted(self, frames: int) -> Candidate:
        """The same candidate `frames` later (stream frame -> frame_index)."""
        return replace(self, frame=self.frame + frames, start=self.start + frames, end=self.end + frames)
