"""DissolveDetector: dissolves (and fades that do not reach a flat frame) in a FeatureRing.

The long-range distance D[t] (frame t against t - span) stays high for a while around a gradual
transition (the twin-comparison idea: small frame-to-frame steps that add up). When such an
episode ends, the luma planes across it are fitted as a linear blend of its end frames
(`blend_fit`): a dissolve fits with a small residual and a monotone blend weight spread over
several frames; camera motion does not fit, and a hard cut fits as a one-frame step (left to
the cut rule).
"""

from __future__ import annotations

from dataclasses import astuple, dataclass

import numpy as np

from vstream.kernels import blend_fit, rolling_median_mad
from vstream.segment.candidate import Candidate
from vstream.segment.content_params import ContentParams, FrameSpans
from vstream.segment.feature_ring import FeatureRing


@dataclass
class _Episode:
    """An open stretch of high long-range distance (a possible gradual transition)."""

    start: int
    last: int
    peak: int
    peak_value: float


class DissolveDetector:
    """Finds dissolves among the frames of a FeatureRing, in stream frames."""

    def __init__(self, params: ContentParams, spans: FrameSpans) -> None:
        self.params = params
        self.spans = spans
        self._next = 0  # first frame not yet scanned for episodes
        self._episode: _Episode | None = None

    def scan(self, ring: FeatureRing, final: bool) -> list[Candidate]:
        """Follow episodes through the frames appended since the last scan; return the
        dissolves of those that closed (all open ones close when `final`)."""
        p, span, window = self.params, self.spans.span, self.spans.window
        lo = max(self._next, span)
        hi = ring.n
        found: list[Candidate] = []
        if hi <= lo and not final:
            return found
        if hi > lo:
            ctx = max(span, lo - 2 * window)
            far = ring.long_distance[ring.rows(ctx, hi)]
            med, _ = rolling_median_mad(far, 2 * window, min_count=1)
            far, med = far[lo - ctx :], med[lo - ctx :]
            med = np.where(np.isnan(med), 0.0, med)
            high = (far >= p.gradual_floor) & (far - med >= p.gradual_excess)
            for i in range(len(far)):
                t = lo + i
                ep = self._episode
                if high[i]:
                    if ep is None:
                        # The median must not learn from the episode itself: freeze it by
                        # keeping the opening threshold (the rolling median lags anyway).
                        self._episode = _Episode(t, t, t, float(far[i]))
                    else:
                        ep.last = t
                        if far[i] > ep.peak_value:
                            ep.peak, ep.peak_value = t, float(far[i])
                        if t - ep.start >= self.spans.max_episode:
                            found += self._close_episode(ring)
                elif ep is not None:
                    found += self._close_episode(ring)
            self._next = hi
        if final and self._episode is not None:
            found += self._close_episode(ring)
        return found

    def horizon(self) -> int:
        """Lowest stream frame an episode still open (or still to open) can reach back to."""
        open_from = self._episode.start if self._episode is not None else self._next
        return open_from - self.spans.span

    def _close_episode(self, ring: FeatureRing) -> list[Candidate]:
        """Judge the open episode; the dissolve it holds, if any."""
        p, span = self.params, self.spans.span
        ep = self._episode
        self._episode = None
        assert ep is not None
        # 1. Coarse: the transition lies in [first high - span, last high]; the ends of that
        #    window are (nearly) pure frames of the old and new shot.
        a = max(0, ep.start - span)
        b = ep.last
        if b - a < p.gradual_min_frames + 1:
            return []
        alpha, _ = blend_fit(ring.luma[ring.rows(a, b + 1)])
        if np.isnan(alpha).any():
            return []
        inside = np.flatnonzero((alpha > 0.15) & (alpha < 0.85))
        if len(inside) == 0:
            return []
        # 2. Fine: refit on the ramp plus two frames either side, so motion in the shots
        #    around it adds as little as possible to the residual.
        s0 = max(a, a + int(inside[0]) - 2)
        s1 = min(b, a + int(inside[-1]) + 2)
        if s1 - s0 < p.gradual_min_frames + 1:
            return []  # a step: a cut (or nothing), the cut rule's business
        alpha, resid = blend_fit(ring.luma[ring.rows(s0, s1 + 1)])
        if np.isnan(alpha).any():
            return []
        ramp = np.flatnonzero((alpha > 0.1) & (alpha < 0.9))
        if len(ramp) < p.gradual_min_frames:
            return []
        # The frame halfway through the blend carries the verdict: a dissolve is close to the
        # average of its ends, a pan or a moving subject is not.
        half = int(np.argmin(np.abs(alpha - 0.5)))
        res = float(resid[half])
        if res > p.gradual_residual:
            return []
        # A blend weight that goes back and forth is flicker or motion, not a dissolve.
        if np.any(np.diff(alpha[ramp[0] : ramp[-1] + 1]) < -0.1):
            return []
        t0, t1 = s0 + int(ramp[0]), s0 + int(ramp[-1]) + 1
        # A hard cut inside the ramp means this is a cut seen from afar.
        sc = ring.cut_score[ring.rows(t0, t1 + 1)]
        if np.nanmax(sc) >= p.cut_floor and np.nanmax(sc) > 4 * np.nanmedian(sc):
            return []
        # 0.5 at the residual threshold, 1 for a perfect blend.
        score = float(np.clip(1.0 - 0.5 * res / p.gradual_residual, 0.0, 1.0))
        return [Candidate(s0 + half, score, "gradual", t0, t1)]

    def state(self) -> dict:
        """The scan position and the open episode, as plain data."""
        return {"next": self._next,
                "episode": astuple(self._episode) if self._episode is not None else None}

    def load_state(self, state: dict) -> None:
        """Continue the stream `state()` was taken from."""
        self._next = int(state["next"])
        self._episode = _Episode(*state["episode"]) if state["episode"] is not None else None
