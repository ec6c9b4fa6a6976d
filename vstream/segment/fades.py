"""FadeDetector: fades through black or white, as runs of flat frames in a FeatureRing.

A run of flat frames (extreme mean luma, tiny deviation) is one boundary at the first frame
after the run's flattest frame. The cut and dissolve rules also see the fade-out and fade-in
halves; `folds` tells which of their candidates belong to a run, so a fade is reported once.
"""

from __future__ import annotations

import numpy as np

from vstream.segment.candidate import Candidate
from vstream.segment.content_params import ContentParams, FrameSpans
from vstream.segment.feature_ring import FeatureRing

#: a flat run is unambiguous, so its boundary outranks all but the cleanest dissolves when
#: the minimum scene length keeps the stronger of two
FADE_SCORE = 0.95


class FadeDetector:
    """Finds runs of flat frames among the frames of a FeatureRing, in stream frames."""

    def __init__(self, params: ContentParams, spans: FrameSpans) -> None:
        self.params = params
        self.spans = spans
        self._next = 0  # first frame not yet scanned
        self._run_start: int | None = None  # open run of flat frames
        self._runs: list[tuple[int, int]] = []  # closed runs [start, end) candidates may touch

    def scan(self, ring: FeatureRing, final: bool) -> list[Candidate]:
        """Scan the frames appended since the last scan; return a boundary for each fade whose
        run has closed and been checked for a flash (which needs look-ahead)."""
        lo, hi = self._next, ring.n
        rows = ring.rows(lo, hi)
        flat = self._is_flat(ring.luma_mean[rows], ring.luma_std[rows])
        found = []
        for i, is_flat in enumerate(flat):
            t = lo + i
            if is_flat and self._run_start is None:
                self._run_start = t
            elif not is_flat and self._run_start is not None:
                if not final and t + self.spans.flash + 1 > ring.n:
                    self._next = t  # the flash check below needs look-ahead: resume here
                    return found
                start, self._run_start = self._run_start, None
                self._runs.append((start, t))
                if start == 0:
                    continue  # the stream opens on a flat frame: no boundary before shot one
                if t - start <= self.spans.flash and self._returns(ring, start - 1, t):
                    continue  # a flash to white (or a dropout to black) inside one shot
                # The first fade-in frames are still dark enough to count as flat: the new
                # shot starts after the run's flattest frame, not where "flat" ends.
                run = ring.luma_mean[ring.rows(start, t)]
                extreme = run.min() if run.min() <= self.params.flat_luma else run.max()
                first = start + 1 + int(np.flatnonzero(np.abs(run - extreme) <= 1.0)[-1])
                found.append(Candidate(first, FADE_SCORE, "gradual", start, t, fade=True))
        if final and self._run_start is not None:
            # The stream ends flat (a closing fade-out): no new shot, but fold what touches it.
            self._runs.append((self._run_start, hi))
            self._run_start = None
        self._next = hi
        return found

    def horizon(self) -> int:
        """Lowest stream frame an open run can still fold a candidate at: a run folds gradual
        candidates whose span touches it, and those reach back `fold_reach` frames."""
        open_from = self._run_start if self._run_start is not None else self._next
        return open_from - self.spans.fold_reach

    def folds(self, c: Candidate) -> bool:
        """Is `c` part of a fade through a flat run (reported once, by the run itself)?"""
        # Fade ramps are dim and count as flat only near their flat end, so a half found by
        # the cut or dissolve rule may sit a few frames off the run: allow `flash` frames.
        # A fade ramp long enough can also pass for a dissolve of its own: allow a whole span.
        slack = self.spans.flash if c.kind == "cut" else self.spans.span
        for start, end in self._runs:
            if c.fade and c.start == start and c.end == end:
                continue  # the run's own boundary
            if c.start <= end + slack and c.end >= start - slack:
                return True
        return False

    def forget_before(self, settled: int) -> None:
        """Drop the runs no candidate at or after stream frame `settled` can touch."""
        reach = self.spans.fold_reach + 1
        self._runs = [r for r in self._runs if r[1] + reach >= settled]

    def _is_flat(self, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
        p = self.params
        return (std <= p.flat_std) & ((mean <= p.flat_luma) | (mean >= 255.0 - p.flat_luma))

    def _returns(self, ring: FeatureRing, before: int, after: int) -> bool:
        """Does the picture at `before` come back within `flash` frames from `after`?"""
        p = self.params
        if before < 0 or ring.luma_mean[before - ring.base] < 2 * p.flat_luma:
            return False  # a dim frame before the run: the end of a fade-out, not a flash
        hi = min(ring.n, after + self.spans.flash + 1)
        if hi <= after:
            return False
        bb = np.arange(after, hi) - ring.base
        aa = np.full(len(bb), before - ring.base)
        jump = float(ring.pair_score(aa[:1], aa[:1] + 1, edges=False)[0])
        return bool(ring.pair_score(aa, bb, edges=False).min() < p.flash_return * jump)

    def state(self) -> dict:
        """The scan position and the runs, as plain data."""
        return {"next": self._next, "run_start": self._run_start, "runs": list(self._runs)}

    def load_state(self, state: dict) -> None:
        """Continue the stream `state()` was taken from."""
        self._next = int(state["next"])
        self._run_start = state["run_start"]
        self._runs = [tuple(r) for r in state["runs"]]
