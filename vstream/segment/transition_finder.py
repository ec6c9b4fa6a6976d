"""TransitionFinder: the three content rules of one set of thresholds, over one FeatureRing."""

from __future__ import annotations

import heapq
from typing import Protocol

from vstream.segment.candidate import Candidate
from vstream.segment.content_params import ContentParams, FrameSpans
from vstream.segment.cuts import CutDetector
from vstream.segment.dissolves import DissolveDetector
from vstream.segment.fades import FadeDetector
from vstream.segment.feature_ring import FeatureRing


class ContentRule(Protocol):
    """What `CutDetector`, `FadeDetector` and `DissolveDetector` share: each reads the ring
    and keeps only its own open decisions."""

    def scan(self, ring: FeatureRing, final: bool) -> list[Candidate]:
        """Look at the frames appended since the last scan; return what is now found."""
        ...

    def horizon(self) -> int:
        """Lowest stream frame a decision still open can put a candidate at."""
        ...


class TransitionFinder:
    """Cuts, fades and dissolves of one `ContentParams` among a FeatureRing's frames.

    `scan` after each append; `take` returns what was found, in frame order, once no decision
    still open can put a boundary before it or fold it into a fade (a fade's halves, seen by the
    cut and dissolve rules too, are reported once, by the flat run).
    """

    def __init__(self, params: ContentParams, spans: FrameSpans) -> None:
        self.cuts = CutDetector(params, spans)
        self.fades = FadeDetector(params, spans)
        self.dissolves = DissolveDetector(params, spans)
        self._found: list[Candidate] = []  # a heap: found, not yet taken

    def scan(self, ring: FeatureRing, final: bool) -> None:
        """Run the rules over the frames appended since the last scan (to the end if `final`)."""
        rules: tuple[ContentRule, ...] = (self.cuts, self.fades, self.dissolves)
        for rule in rules:
            for c in rule.scan(ring, final):
                heapq.heappush(self._found, c)

    def take(self, ring: FeatureRing, final: bool) -> list[Candidate]:
        """The candidates now settled, in frame order, as frame_index values."""
        settled = ring.n + 1 if final else self.horizon()
        out = []
        while self._found and self._found[0].frame < settled:
            c = heapq.heappop(self._found)
            if not self.fades.folds(c):
                out.append(c.shifted(ring.offset or 0))
        self.fades.forget_before(settled)
        return out

    def horizon(self) -> int:
        """Lowest stream frame a decision still open could put a boundary at (or fold)."""
        return min(self.cuts.horizon(), self.fades.horizon(), self.dissolves.horizon())

    def settled_until(self, ring: FeatureRing) -> int:
        """Frame index below which every candidate has been taken."""
        frontier = self.horizon()
        if self._found:
            frontier = min(frontier, self._found[0].frame)
        return frontier + (ring.offset or 0)

    def state(self) -> dict:
        """The rules' open decisions and the candidates not yet taken, as plain data."""
        return {"cuts": self.cuts.state(), "fades": self.fades.state(),
                "dissolves": self.dissolves.state(), "found": list(self._found)}

    def load_state(self, state: dict) -> None:
        """Continue the stream `state()` was taken from."""
        self.cuts.load_state(state["cuts"])
        self.fades.load_state(state["fades"])
        self.dissolves.load_state(state["dissolves"])
        self._found = list(state["found"])
