"""ContentShotDetector: the fast, CPU-only shot detector that looks at every frame at low resolution.

Per frame the `vstream.kernels` compute YCbCr histograms, luma statistics, the luma plane and an
edge bitmap (one pass over the pixels). Three detectors then share those features:

1. Cuts. The frame-to-frame score s[t] = mean(histogram distance, edge change ratio, scaled
   luma difference) is judged against the median/MAD of the previous second of scores, so a
   stretch of fast motion raises its own bar. A spike must be a local maximum and must not be a
   transient: if the picture from before the spike comes back within a few frames (a flash, a
   strobe, a person crossing close to the lens) it is not a cut.
2. Dissolves (and fades that do not reach a flat frame). The distance between frame t and t-w
   over a long span w stays high for a while around a gradual transition (the twin-comparison
   idea: small frame-to-frame steps that add up). When such an episode ends, the luma planes
   across it are fitted as a linear blend of its end frames (`blend_fit`): a dissolve fits
   with a small residual and a monotone blend weight spread over several frames; camera motion
   does not fit, and a hard cut fits as a one-frame step (left to the cut detector).
3. Fades through black or white. A run of flat frames (extreme mean luma, tiny deviation) is
   one boundary at the first frame after the run; cuts and dissolves touching the run (the
   fade-out and fade-in halves) are folded into it.

Boundaries from all three go through a minimum-scene-length filter (the stronger of two
boundaries closer than `min_scene_len` wins) and come out in frame order. All state lives in
ring buffers a few seconds long, so memory does not grow with the stream.
"""

from __future__ import annotations

import copy
import heapq
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

import numpy as np

from vstream.decode.frames import FrameBatch
from vstream.kernels import (
    FrameFeatures,
    blend_fit,
    edge_change_ratio,
    frame_features,
    histogram_distance,
    mean_abs_difference,
    rolling_median_mad,
)
from vstream.segment.detector import Boundary

Sensitivity = Literal["boundaries", "candidates"]


@dataclass(frozen=True, order=True)
class Candidate(Boundary):
    """A Boundary with the frames the transition spans: [start, end) belong to neither shot
    alone (start == end == frame for a hard cut). Sorts and compares like a Boundary first."""

    start: int = -1
    end: int = -1
    #: the boundary a run of flat (black or white) frames reports for a whole fade
    fade: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class ContentParams:
    """Thresholds of the content detector. Times are in seconds and become frames at the
    stream's fps; scores are in [0, 1]."""

    #: cut: absolute floor of the frame-to-frame score
    cut_floor: float = 0.2
    #: cut: the score must exceed the rolling median by this much ...
    cut_excess: float = 0.15
    #: ... and by this many robust standard deviations (1.4826 * MAD, floored at 0.01)
    cut_z: float = 6.0
    #: rolling window of the adaptive threshold
    stats_window_s: float = 1.0
    #: a cut is a transient (flash) when the old picture returns within this time ...
    flash_s: float = 0.3
    #: ... i.e. the score old-vs-returned is below this fraction of the jump's score
    flash_return: float = 0.35
    #: gradual: span of the long-range comparison (frame t against t - span)
    gradual_span_s: float = 1.0
    #: gradual: long-range distance that opens an episode (absolute) ...
    gradual_floor: float = 0.2
    #: ... and above the rolling median of that distance by this much
    gradual_excess: float = 0.06
    #: gradual: highest blend-fit residual (at the blend's midpoint) accepted
    gradual_residual: float = 0.4
    #: gradual: fewest frames a blend must spread over (shorter is a cut)
    gradual_min_frames: int = 4
    #: flat frame: mean luma at most this (black) or at least 255 minus this (white) ...
    flat_luma: float = 24.0
    #: ... with luma standard deviation at most this
    flat_std: float = 12.0


#: thresholds for `sensitivity="candidates"`: recall over precision, for a confirmer to judge
CANDIDATE_PARAMS = ContentParams(
    cut_floor=0.12,
    cut_excess=0.08,
    cut_z=3.5,
    flash_return=0.25,
    gradual_floor=0.15,
    gradual_excess=0.04,
    gradual_residual=0.55,
    gradual_min_frames=3,
)


@dataclass
class _Episode:
    """An open stretch of high long-range distance (a possible gradual transition)."""

    start: int
    last: int
    peak: int
    peak_value: float


@dataclass
class _State:
    """Everything that belongs to one stream; `reset()` replaces it."""

    n: int = 0  # frames ingested
    fps: float | None = None
    first: FrameBatch | None = None  # a lone first frame, waiting for a second pts
    cut_next: int = 1  # first frame whose cut decision is still open
    pending_cuts: dict[int, float] = field(default_factory=dict)  # frame -> excess over median
    episode: _Episode | None = None
    gradual_next: int = 0  # first frame not yet scanned for gradual episodes
    flat_next: int = 0  # first frame not yet scanned for flat runs
    flat_start: int | None = None  # open run of flat frames
    flat_runs: list[tuple[int, int]] = field(default_factory=list)  # closed runs [start, end)
    heap: list[Candidate] = field(default_factory=list)  # found, not yet filtered/emitted
    held: Candidate | None = None  # passed the filters, waits out min_scene_len for a rival
    offset: int | None = None  # frame_index of the stream's first frame


class ContentShotDetector:
    """Fast histogram/edge/luma shot detector for cuts, dissolves and fades (ShotDetector).

    `input_size` is the (width, height) the decoder resizes to; (64, 36) and (48, 27) are
    tested. `sensitivity="candidates"` lowers every threshold for high recall (for a neural
    confirmer); `params` overrides the thresholds entirely. `min_scene_len` is in seconds;
    `fps` overrides the frame rate otherwise computed from the first two pts.
    Boundaries are `Candidate`s (a Boundary subclass carrying the transition's frame span).
    """

    name = "fast"

    def __init__(
        self,
        input_size: tuple[int, int] = (64, 36),
        *,
        sensitivity: Sensitivity = "boundaries",
        min_scene_len: float = 0.4,
        fps: float | None = None,
        params: ContentParams | None = None,
        bins: int = 16,
        edge_threshold: int = 48,
    ) -> None:
        w, h = input_size
        if w < 8 or h < 8:
            raise ValueError(f"input_size must be at least (8, 8), got {input_size}")
        if sensitivity not in ("boundaries", "candidates"):
            raise ValueError(f"sensitivity must be 'boundaries' or 'candidates', got {sensitivity!r}")
        if min_scene_len < 0:
            raise ValueError(f"min_scene_len must be >= 0 seconds, got {min_scene_len}")
        if fps is not None and not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.input_size = (int(w), int(h))
        self.sensitivity = sensitivity
        self.params = params or (CANDIDATE_PARAMS if sensitivity == "candidates" else ContentParams())
        self.min_scene_len = float(min_scene_len)
        self._fps_override = fps
        self._bins = bins
        self._edge_threshold = edge_threshold
        self._st = _State()

    # ---------------------------------------------------------------- ShotDetector interface

    def push(self, frames: FrameBatch, features: FrameFeatures | None = None) -> list[Boundary]:
        """Consume the next frames of the stream; return the boundaries now decided, in order.

        `features` are `self.features(frames)` when the caller has them already (the combined
        detector runs two content detectors on the same frames and computes them once).
        """
        if len(frames) == 0:
            return []
        if frames.size != self.input_size:
            raise ValueError(
                f"frames are {frames.size} but this detector wants {self.input_size}: "
                f"decode at input_size or construct ContentShotDetector(input_size={frames.size})"
            )
        st = self._st
        if st.fps is None:
            if self._fps_override is None:
                if st.first is not None:
                    # The stream's first batch held one frame: join it to this one.
                    frames = FrameBatch(
                        frames.stream_id,
                        np.concatenate([st.first.images, frames.images]),
                        np.concatenate([st.first.frame_index, frames.frame_index]),
                        np.concatenate([st.first.pts, frames.pts]),
                        frames.time_base,
                    )
                    st.first = None
                    features = None  # they described the batch without the joined frame
                if len(frames) < 2:
                    st.first = frames  # the frame rate needs two pts; nothing to decide yet
                    return []
                st.fps = self._fps_from(int(frames.pts[1]) - int(frames.pts[0]), frames.time_base)
            else:
                st.fps = float(self._fps_override)
            self._build(st.fps)
        feats = features if features is not None else self.features(frames)
        # Work in chunks of at most half the ring, so a chunk never overwrites frames its own
        # look-back still needs; decisions do not depend on where chunks (or batches) end.
        for lo in range(0, len(frames), self._chunk):
            hi = min(lo + self._chunk, len(frames))
            self._ingest(feats, frames.frame_index, lo, hi)
            self._decide(final=False)
        return self._emit(final=False)

    def features(self, frames: FrameBatch) -> FrameFeatures:
        """The per-frame features this detector decides on."""
        return frame_features(frames.images, self._bins, self._edge_threshold)

    def flush(self) -> list[Boundary]:
        """End of stream: decide what look-ahead was waiting for and return it."""
        if self._st.n == 0:
            return []
        self._decide(final=True)
        return self._emit(final=True)

    def reset(self) -> None:
        """Forget the stream, ready for a new one."""
        self._st = _State()

    #: ring buffers of `_build`, saved by `state()` (only their filled rows)
    _BUFFERS = ("_hist", "_mean", "_std", "_luma", "_edges", "_score", "_far")

    def state(self) -> dict:
        """The stream's state as plain data (a checkpoint at a chunk boundary): the decision
        state and the filled rows of the ring buffers. `load_state` on a detector built with the
        same settings continues exactly as this one would."""
        out: dict = {"st": copy.deepcopy(self._st)}
        if self._st.fps is not None:  # buffers exist once the frame rate is known
            k = self._st.n - self._base
            out["base"] = self._base
            out["buffers"] = {name: getattr(self, name)[:k].copy() for name in self._BUFFERS}
        return out

    def load_state(self, state: dict) -> None:
        """Continue the stream `state()` was taken from."""
        st = copy.deepcopy(state["st"])
        self._st = st
        if st.fps is None:
            return
        self._build(st.fps)  # same settings, same sizes: the rows go back where they were
        self._base = int(state["base"])
        for name, rows in state["buffers"].items():
            getattr(self, name)[: len(rows)] = rows

    @property
    def min_scene_frames(self) -> int:
        """The minimum scene length in frames (known once the stream's frame rate is)."""
        return getattr(self, "_min_len", 0)

    def decided_until(self) -> int:
        """Stream frame index below which every boundary has been returned: a boundary this
        detector will still report lies at or after it (a fuser waits for this frontier)."""
        st = self._st
        if st.n == 0:
            return 0
        frontier = self._horizon()
        if st.heap:
            frontier = min(frontier, st.heap[0].frame)
        if st.held is not None:
            frontier = min(frontier, st.held.frame)
        return frontier + (st.offset or 0)

    def recent_scores(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-frame scores of the frames still buffered (the last few seconds), for a
        detector that fuses them with its own: (frame_index (m,) int64, cut score (m,),
        long-range distance (m,)), float64 in [0, 1], NaN where not defined (frame 0; the
        first span of frames for the long-range distance)."""
        st = self._st
        if st.n == 0:
            return np.empty(0, np.int64), np.empty(0), np.empty(0)
        lo = max(self._base, st.n - self._need)
        rows = self._rows(lo, st.n)
        return (
            np.arange(lo, st.n, dtype=np.int64) + (st.offset or 0),
            self._score[rows].copy(),
            self._far[rows].copy(),
        )

    # ---------------------------------------------------------------- timing and buffers

    @staticmethod
    def _fps_from(delta_pts: int, time_base: Fraction) -> float:
        seconds = delta_pts * float(time_base)
        # Broken or repeated pts: fall back to the most common broadcast rate.
        return 1.0 / seconds if seconds > 0 else 25.0

    def _build(self, fps: float) -> None:
        """Size the per-stream parameters and ring buffers for the stream's frame rate."""
        p = self.params
        self._min_len = int(round(self.min_scene_len * fps))
        self._window = max(3, int(round(p.stats_window_s * fps)))
        self._flash = max(1, int(round(p.flash_s * fps)))
        self._span = max(4, int(round(p.gradual_span_s * fps)))
        self._max_episode = 3 * self._span
        # Look-back the decisions need: an episode fit reaches span + max_episode back from
        # the newest frame; the stats windows and the flash check reach less far.
        need = self._span + self._max_episode + 2 * self._window + self._flash + 4
        self._chunk = need
        self._need = need
        # A sliding window rather than a ring: frames [base, n) sit at rows [0, n - base), so
        # every range is a plain slice (a view, no gather); when a chunk would not fit, the
        # last `need` frames move to the front (amortised: one row copy per two frames).
        self._cap = cap = 3 * need
        self._base = 0
        w, h = self.input_size
        self._hist = np.zeros((cap, 3 * self._bins), np.float32)
        self._mean = np.zeros(cap, np.float64)
        self._std = np.zeros(cap, np.float64)
        self._luma = np.zeros((cap, h, w), np.float32)
        self._edges = np.zeros((cap, h, w), np.uint8)
        self._score = np.full(cap, np.nan)  # cut score s[t] against t-1
        self._far = np.full(cap, np.nan)  # long-range distance D[t] against t-span

    def _rows(self, lo: int, hi: int) -> slice:
        """Buffer rows of stream frames [lo, hi)."""
        assert self._base <= lo <= hi <= self._base + self._cap, (lo, hi, self._base)
        return slice(lo - self._base, hi - self._base)

    def _make_room(self, count: int) -> None:
        """Make sure `count` more frames fit, keeping the last `need` frames."""
        n = self._st.n
        if n + count - self._base <= self._cap:
            return
        keep_from = max(self._base, n - self._need)
        src = slice(keep_from - self._base, n - self._base)
        k = n - keep_from
        for arr in (self._hist, self._mean, self._std, self._luma, self._edges, self._score, self._far):
            arr[:k] = arr[src]
        self._base = keep_from

    # ---------------------------------------------------------------- per-chunk features

    def _ingest(self, feats: FrameFeatures, frame_index: np.ndarray, lo: int, hi: int) -> None:
        st = self._st
        if st.offset is None:
            # Boundaries are reported as frame_index values; frames are taken as contiguous.
            st.offset = int(frame_index[lo])
        t0 = st.n
        t1 = t0 + (hi - lo)
        self._make_room(hi - lo)
        rows = self._rows(t0, t1)
        self._hist[rows] = feats.hist[lo:hi]
        self._mean[rows] = feats.luma_mean[lo:hi]
        self._std[rows] = feats.luma_std[lo:hi]
        self._luma[rows] = feats.luma[lo:hi]
        self._edges[rows] = feats.edges[lo:hi]
        st.n = t1

        # 1. Frame-to-frame cut score for frames with a predecessor.
        a = max(t0, 1)
        if a < t1:
            cur, prev = self._rows(a, t1), self._rows(a - 1, t1 - 1)
            self._score[cur] = self._pair_score(cur, prev)
        if t0 == 0:
            self._score[0] = np.nan
        # 2. Long-range distance over the gradual span (histogram and luma, no edges: edges
        #    of both shots coexist in a dissolve).
        a = max(t0, self._span)
        self._far[self._rows(t0, min(a, t1))] = np.nan
        if a < t1:
            cur, prev = self._rows(a, t1), self._rows(a - self._span, t1 - self._span)
            d = histogram_distance(self._hist[cur], self._hist[prev])
            p = np.minimum(mean_abs_difference(self._luma[cur], self._luma[prev]) / 64.0, 1.0)
            self._far[cur] = 0.5 * (d + p)

    # ---------------------------------------------------------------- decisions

    def _decide(self, final: bool) -> None:
        self._decide_cuts(final)
        self._decide_flats(final)
        self._decide_gradual(final)

    def _series(self, arr: np.ndarray, lo: int, hi: int) -> np.ndarray:
        return arr[self._rows(lo, hi)]

    def _decide_cuts(self, final: bool) -> None:
        st, p = self._st, self.params
        # New frames whose score is known: pre-select with the adaptive threshold (vectorised).
        lo, hi = st.cut_next, st.n
        if hi > lo:
            ctx = max(0, lo - self._window)
            s = self._series(self._score, ctx, hi)
            med, mad = rolling_median_mad(s, self._window, min_count=min(3, self._window))
            s, med, mad = s[lo - ctx :], med[lo - ctx :], mad[lo - ctx :]
            med = np.where(np.isnan(med), 0.0, med)
            sigma = np.maximum(1.4826 * np.where(np.isnan(mad), 0.0, mad), 0.01)
            hit = (s >= p.cut_floor) & (s - med >= p.cut_excess) & ((s - med) / sigma >= p.cut_z)
            for i in np.flatnonzero(hit):
                st.pending_cuts[lo + int(i)] = float(s[i] - med[i])
            st.cut_next = hi
        # Decide pending cuts whose look-ahead (the flash window) has arrived.
        for t in [t for t in st.pending_cuts if final or t + self._flash + 1 < st.n]:
            excess = st.pending_cuts.pop(t)
            if self._is_cut(t):
                # Map the excess over the median to [0.5, 1]: 0.5 at the threshold, 1 at a
                # jump of +0.3 above it (a change of everything: colours, edges, brightness).
                score = float(min(1.0, 0.5 + 0.5 * (excess - p.cut_excess) / 0.3))
                heapq.heappush(st.heap, Candidate(t, score, "cut", t, t))

    def _is_cut(self, t: int) -> bool:
        st, p = self._st, self.params
        s = self._score
        base = self._base
        here = s[t - base]
        # Local maximum: the neighbour with the higher score carries the cut (ties: earlier).
        if t - 1 >= 1 and s[t - 1 - base] >= here:
            return False
        if t + 1 < st.n and s[t + 1 - base] > here:
            return False
        # Transient: the picture from before the jump is back within `flash` frames. Either t
        # opens the transient (t-1 returns at some t+k) or closes one (t matches some t-1-k).
        fl = self._flash
        aa = np.r_[np.full(min(st.n - 1, t + fl) - t, t - 1), np.arange(max(0, t - 1 - fl), t - 1)]
        bb = np.r_[np.arange(t + 1, min(st.n, t + fl + 1)), np.full(t - 1 - max(0, t - 1 - fl), t)]
        if len(aa):
            jump = self._pair_score(np.array([t - 1 - base]), np.array([t - base]), edges=False)
            back = self._pair_score(aa - base, bb - base, edges=False)
            if back.min() < p.flash_return * jump[0]:
                return False
        return True

    def _pair_score(self, aa: np.ndarray, bb: np.ndarray, edges: bool = True) -> np.ndarray:
        """The cut score between buffer rows aa[i] and bb[i] (any distance apart); without
        `edges` the cheaper histogram + luma part only (enough to tell a picture came back)."""
        d = histogram_distance(self._hist[aa], self._hist[bb])
        # A mean luma difference of 64 levels (a quarter of the range) is total change.
        p = np.minimum(mean_abs_difference(self._luma[aa], self._luma[bb]) / 64.0, 1.0)
        if not edges:
            return (d + p) / 2.0
        e = edge_change_ratio(self._edges[aa], self._edges[bb])
        return (d + e + p) / 3.0

    def _is_flat(self, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
        p = self.params
        return (std <= p.flat_std) & ((mean <= p.flat_luma) | (mean >= 255.0 - p.flat_luma))

    def _decide_flats(self, final: bool) -> None:
        st = self._st
        lo, hi = st.flat_next, st.n
        flat = self._is_flat(self._series(self._mean, lo, hi), self._series(self._std, lo, hi))
        for i, is_flat in enumerate(flat):
            t = lo + i
            if is_flat and st.flat_start is None:
                st.flat_start = t
            elif not is_flat and st.flat_start is not None:
                if not final and t + self._flash + 1 > st.n:
                    st.flat_next = t  # the flash check below needs look-ahead: resume here
                    return
                start, st.flat_start = st.flat_start, None
                st.flat_runs.append((start, t))
                if start == 0:
                    continue  # the stream opens on a flat frame: no boundary before shot one
                if t - start <= self._flash and self._returns(start - 1, t):
                    continue  # a flash to white (or a dropout to black) inside one shot
                # The first fade-in frames are still dark enough to count as flat: the new
                # shot starts after the run's flattest frame, not where "flat" ends.
                run = self._series(self._mean, start, t)
                extreme = run.min() if run.min() <= self.params.flat_luma else run.max()
                first = start + 1 + int(np.flatnonzero(np.abs(run - extreme) <= 1.0)[-1])
                heapq.heappush(st.heap, Candidate(first, 0.95, "gradual", start, t, fade=True))
        if final and st.flat_start is not None:
            # The stream ends flat (a closing fade-out): no new shot, but fold what touches it.
            st.flat_runs.append((st.flat_start, hi))
            st.flat_start = None
        st.flat_next = hi

    def _returns(self, before: int, after: int) -> bool:
        """Does the picture at `before` come back within `flash` frames from `after`?"""
        st, p = self._st, self.params
        if before < 0 or self._mean[before - self._base] < 2 * p.flat_luma:
            return False  # a dim frame before the run: the end of a fade-out, not a flash
        hi = min(st.n, after + self._flash + 1)
        if hi <= after:
            return False
        bb = np.arange(after, hi) - self._base
        aa = np.full(len(bb), before - self._base)
        jump = float(self._pair_score(aa[:1], aa[:1] + 1, edges=False)[0])
        return bool(self._pair_score(aa, bb, edges=False).min() < p.flash_return * jump)

    def _decide_gradual(self, final: bool) -> None:
        st, p = self._st, self.params
        lo = max(st.gradual_next, self._span)
        hi = st.n
        if hi <= lo and not final:
            return
        if hi > lo:
            ctx = max(self._span, lo - 2 * self._window)
            far = self._series(self._far, ctx, hi)
            med, _ = rolling_median_mad(far, 2 * self._window, min_count=1)
            far, med = far[lo - ctx :], med[lo - ctx :]
            med = np.where(np.isnan(med), 0.0, med)
            high = (far >= p.gradual_floor) & (far - med >= p.gradual_excess)
            for i in range(len(far)):
                t = lo + i
                ep = st.episode
                if high[i]:
                    if ep is None:
                        # The median must not learn from the episode itself: freeze it by
                        # keeping the opening threshold (the rolling median lags anyway).
                        st.episode = _Episode(t, t, t, float(far[i]))
                    else:
                        ep.last = t
                        if far[i] > ep.peak_value:
                            ep.peak, ep.peak_value = t, float(far[i])
                        if t - ep.start >= self._max_episode:
                            self._close_episode()
                elif ep is not None:
                    self._close_episode()
            st.gradual_next = hi
        if final and st.episode is not None:
            self._close_episode()

    def _close_episode(self) -> None:
        st, p = self._st, self.params
        ep = st.episode
        st.episode = None
        assert ep is not None
        # 1. Coarse: the transition lies in [first high - span, last high]; the ends of that
        #    window are (nearly) pure frames of the old and new shot.
        a = max(0, ep.start - self._span)
        b = ep.last
        if b - a < p.gradual_min_frames + 1:
            return
        alpha, _ = blend_fit(self._luma[self._rows(a, b + 1)])
        if np.isnan(alpha).any():
            return
        inside = np.flatnonzero((alpha > 0.15) & (alpha < 0.85))
        if len(inside) == 0:
            return
        # 2. Fine: refit on the ramp plus two frames either side, so motion in the shots
        #    around it adds as little as possible to the residual.
        s0 = max(a, a + int(inside[0]) - 2)
        s1 = min(b, a + int(inside[-1]) + 2)
        if s1 - s0 < p.gradual_min_frames + 1:
            return  # a step: a cut (or nothing), the cut detector's business
        alpha, resid = blend_fit(self._luma[self._rows(s0, s1 + 1)])
        if np.isnan(alpha).any():
            return
        ramp = np.flatnonzero((alpha > 0.1) & (alpha < 0.9))
        if len(ramp) < p.gradual_min_frames:
            return
        # The frame halfway through the blend carries the verdict: a dissolve is close to the
        # average of its ends, a pan or a moving subject is not.
        half = int(np.argmin(np.abs(alpha - 0.5)))
        res = float(resid[half])
        if res > p.gradual_residual:
            return
        # A blend weight that goes back and forth is flicker or motion, not a dissolve.
        if np.any(np.diff(alpha[ramp[0] : ramp[-1] + 1]) < -0.1):
            return
        t0, t1 = s0 + int(ramp[0]), s0 + int(ramp[-1]) + 1
        # A hard cut inside the ramp means this is a cut seen from afar.
        sc = self._series(self._score, t0, t1 + 1)
        if np.nanmax(sc) >= p.cut_floor and np.nanmax(sc) > 4 * np.nanmedian(sc):
            return
        mid = s0 + half
        # 0.5 at the residual threshold, 1 for a perfect blend.
        score = float(np.clip(1.0 - 0.5 * res / p.gradual_residual, 0.0, 1.0))
        heapq.heappush(st.heap, Candidate(mid, score, "gradual", t0, t1))

    # ---------------------------------------------------------------- output

    def _horizon(self) -> int:
        """Lowest stream frame a decision still open could put a boundary at (or fold)."""
        st = self._st
        reach = self._span + self._max_episode + 1
        h = min([st.cut_next, *st.pending_cuts])
        ep = st.episode
        h = min(h, (ep.start if ep is not None else st.gradual_next) - self._span)
        # A flat run folds gradual candidates whose span touches it, and those reach back
        # up to span + max_episode frames.
        h = min(h, (st.flat_start if st.flat_start is not None else st.flat_next) - reach)
        return h

    def _folded(self, c: Candidate) -> bool:
        """Is `c` part of a fade through a flat run (reported once, by the run itself)?"""
        # Fade ramps are dim and count as flat only near their flat end, so a half found by
        # the cut or dissolve detector may sit a few frames off the run: allow `flash` frames.
        # A fade ramp long enough can also pass for a dissolve of its own: allow a whole span.
        slack = self._flash if c.kind == "cut" else self._span
        for start, end in self._st.flat_runs:
            if c.fade and c.start == start and c.end == end:
                continue  # the run's own boundary
            if c.start <= end + slack and c.end >= start - slack:
                return True
        return False

    def _emit(self, final: bool) -> list[Boundary]:
        """Pop found boundaries that no open decision can still affect, fold fade halves into
        their flat run, apply the minimum scene length (stronger wins), return them in order."""
        st = self._st
        safe = st.n + 1 if final else self._horizon()
        out: list[Boundary] = []
        while st.heap and st.heap[0].frame < safe:
            c = heapq.heappop(st.heap)
            if self._folded(c) or c.frame < self._min_len:
                continue  # shot one must be min_scene_len long too
            held = st.held
            if held is not None and c.frame - held.frame < self._min_len:
                if c.score > held.score:
                    st.held = c
                continue
            if held is not None:
                out.append(held)
            st.held = c
        if st.held is not None and (final or st.held.frame + self._min_len < safe):
            out.append(st.held)
            st.held = None
        # Forget flat runs no candidate can touch any more.
        reach = self._span + self._max_episode + 2
        st.flat_runs = [r for r in st.flat_runs if r[1] + reach >= safe]
        off = st.offset or 0
        return [
            Candidate(c.frame + off, c.score, c.kind, c.start + off, c.end + off) for c in out
        ]
