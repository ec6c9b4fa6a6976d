"""CutDetector: hard cuts in a FeatureRing's frame-to-frame score.

The score s[t] is judged against the median/MAD of the previous second of scores, so a stretch
of fast motion raises its own bar. A spike must be a local maximum and must not be a transient:
if the picture from before the spike comes back within a few frames (a flash, a strobe, a
person crossing close to the lens) it is not a cut.
"""

from __future__ import annotations

import numpy as np

from vstream.kernels import rolling_median_mad
from vstream.segment.candidate import Candidate
from vstream.segment.content_params import ContentParams, FrameSpans
from vstream.segment.feature_ring import FeatureRing

#: a jump this far above the threshold's excess (a change of everything: colours, edges,
#: brightness) scores 1
_FULL_EXCESS = 0.3


class CutDetector:
    """Finds hard cuts among the frames of a FeatureRing, in stream frames."""

    def __init__(self, params: ContentParams, spans: FrameSpans) -> None:
        self.params = params
        self.spans = spans
        self._next = 1  # first frame whose score has not been pre-selected (frame 0 has none)
        self._pending: dict[int, float] = {}  # frame -> excess over the median, awaiting look-ahead

    def scan(self, ring: FeatureRing, final: bool) -> list[Candidate]:
        """Pre-select the frames appended since the last scan; return the cuts whose
        look-ahead (the flash window) has arrived, or all of them when `final`."""
        p = self.params
        window = self.spans.window
        lo, hi = self._next, ring.n
        if hi > lo:
            ctx = max(0, lo - window)
            s = ring.cut_score[ring.rows(ctx, hi)]
            med, mad = rolling_median_mad(s, window, min_count=min(3, window))
            s, med, mad = s[lo - ctx :], med[lo - ctx :], mad[lo - ctx :]
            med = np.where(np.isnan(med), 0.0, med)
            sigma = np.maximum(1.4826 * np.where(np.isnan(mad), 0.0, mad), 0.01)
            hit = (s >= p.cut_floor) & (s - med >= p.cut_excess) & ((s - med) / sigma >= p.cut_z)
            for i in np.flatnonzero(hit):
                self._pending[lo + int(i)] = float(s[i] - med[i])
            self._next = hi
        found = []
        for t in [t for t in self._pending if final or t + self.spans.flash + 1 < ring.n]:
            excess = self._pending.pop(t)
            if self._is_cut(ring, t):
                # 0.5 at the threshold, 1 at a jump of _FULL_EXCESS above it.
                score = float(min(1.0, 0.5 + 0.5 * (excess - p.cut_excess) / _FULL_EXCESS))
                found.append(Candidate(t, score, "cut", t, t))
        return found

    def horizon(self) -> int:
        """Lowest stream frame a cut still undecided can lie at."""
        return min([self._next, *self._pending])

    def _is_cut(self, ring: FeatureRing, t: int) -> bool:
        s = ring.cut_score
        base, n = ring.base, ring.n
        here = s[t - base]
        # Local maximum: the neighbour with the higher score carries the cut (ties: earlier).
        if t - 1 >= 1 and s[t - 1 - base] >= here:
            return False
        if t + 1 < n and s[t + 1 - base] > here:
            return False
        # Transient: the picture from before the jump is back within `flash` frames. Either t
        # opens the transient (t-1 returns at some t+k) or closes one (t matches some t-1-k).
        fl = self.spans.flash
        aa = np.r_[np.full(min(n - 1, t + fl) - t, t - 1), np.arange(max(0, t - 1 - fl), t - 1)]
        bb = np.r_[np.arange(t + 1, min(n, t + fl + 1)), np.full(t - 1 - max(0, t - 1 - fl), t)]
        if len(aa):
            jump = ring.pair_score(np.array([t - 1 - base]), np.array([t - base]), edges=False)
            back = ring.pair_score(aa - base, bb - base, edges=False)
            if back.min() < self.params.flash_return * jump[0]:
                return False
        return True

    def state(self) -> dict:
        """The undecided frames as plain data."""
        return {"next": self._next, "pending": dict(self._pending)}

    def load_state(self, state: dict) -> None:
        """Continue the stream `state()` was taken from."""
        self._next = int(state["next"])
        self._pending = dict(state["pending"])
