"""FeatureRing: the per-frame features of the last few seconds of one stream, computed once.

Per frame the `vstream.kernels` compute YCbCr histograms, luma statistics, the luma plane and an
edge bitmap in one pass over the pixels. The ring keeps them, plus two per-frame scores every
content rule reads:

- the cut score s[t] = mean(histogram distance, edge change ratio, scaled luma difference)
  between frame t and t-1;
- the long-range distance D[t] = mean(histogram distance, scaled luma difference) between frame
  t and t-span (no edges: the edges of both shots coexist in a dissolve).

The content rules (`CutDetector`, `FadeDetector`, `DissolveDetector`) only read it, so several
sets of them (the combined detector's strict and sensitive passes) share one ring.
"""

from __future__ import annotations

import numpy as np

from vstream.decode.frames import FrameBatch
from vstream.kernels import (
    TOTAL_LUMA_CHANGE,
    FrameFeatures,
    edge_change_ratio,
    frame_features,
    histogram_distance,
    mean_abs_difference,
    picture_change,
)


class FeatureRing:
    """Features and scores of stream frames [base, n), addressed by stream frame (0 is the
    stream's first frame; `offset` is its frame_index).

    A sliding window rather than a ring: frames [base, n) sit at rows [0, n - base), so every
    range is a plain slice (a view, no gather); when a chunk would not fit, the last `keep`
    frames move to the front (amortised: one row copy per two frames). `append` takes at most
    `keep` frames at a time, so it never overwrites rows a reader's look-back still needs.
    """

    #: the per-frame columns, saved by `state()` (only their filled rows)
    COLUMNS = ("hist", "luma_mean", "luma_std", "luma", "edges", "cut_score", "long_distance")

    def __init__(self, input_size: tuple[int, int], *, span: int, keep: int, bins: int = 16,
                 edge_threshold: int = 48) -> None:
        if span < 1 or keep < span:
            raise ValueError(f"need 1 <= span <= keep, got span={span}, keep={keep}")
        self.input_size = input_size
        self.span = span
        self.keep = keep
        self._bins = bins
        self._edge_threshold = edge_threshold
        self._cap = cap = 3 * keep
        self.n = 0  # frames appended
        self.base = 0  # stream frame of row 0
        self.offset: int | None = None  # frame_index of stream frame 0
        w, h = input_size
        self.hist = np.zeros((cap, 3 * bins), np.float32)
        self.luma_mean = np.zeros(cap, np.float64)
        self.luma_std = np.zeros(cap, np.float64)
        self.luma = np.zeros((cap, h, w), np.float32)
        self.edges = np.zeros((cap, h, w), np.uint8)
        self.cut_score = np.full(cap, np.nan)  # s[t] against t-1; NaN for frame 0
        self.long_distance = np.full(cap, np.nan)  # D[t] against t-span; NaN for t < span

    def features(self, frames: FrameBatch) -> FrameFeatures:
        """The per-frame features of `frames` (compute once, `append` in pieces)."""
        return frame_features(frames.images, self._bins, self._edge_threshold)

    def rows(self, lo: int, hi: int) -> slice:
        """Rows of stream frames [lo, hi)."""
        assert self.base <= lo <= hi <= self.base + self._cap, (lo, hi, self.base)
        return slice(lo - self.base, hi - self.base)

    def append(self, feats: FrameFeatures, frame_index: np.ndarray, lo: int, hi: int) -> None:
        """Append frames [lo, hi) of a batch (at most `keep` of them) and score them."""
        assert hi - lo <= self.keep, (lo, hi, self.keep)
        if self.offset is None:
            # Boundaries are reported as frame_index values; frames are taken as contiguous.
            self.offset = int(frame_index[lo])
        t0 = self.n
        t1 = t0 + (hi - lo)
        self._make_room(hi - lo)
        rows = self.rows(t0, t1)
        self.hist[rows] = feats.hist[lo:hi]
        self.luma_mean[rows] = feats.luma_mean[lo:hi]
        self.luma_std[rows] = feats.luma_std[lo:hi]
        self.luma[rows] = feats.luma[lo:hi]
        self.edges[rows] = feats.edges[lo:hi]
        self.n = t1

        a = max(t0, 1)
        if a < t1:
            self.cut_score[self.rows(a, t1)] = self.pair_score(self.rows(a, t1), self.rows(a - 1, t1 - 1))
        if t0 == 0:
            self.cut_score[0] = np.nan
        a = max(t0, self.span)
        self.long_distance[self.rows(t0, min(a, t1))] = np.nan
        if a < t1:
            cur, prev = self.rows(a, t1), self.rows(a - self.span, t1 - self.span)
            self.long_distance[cur] = picture_change(self.hist[cur], self.hist[prev],
                                                     self.luma[cur], self.luma[prev])

    def pair_score(self, a: slice | np.ndarray, b: slice | np.ndarray, edges: bool = True) -> np.ndarray:
        """The cut score between rows a[i] and b[i] (any distance apart); without `edges` the
        cheaper histogram + luma part only (enough to tell a picture came back)."""
        if not edges:
            return picture_change(self.hist[a], self.hist[b], self.luma[a], self.luma[b])
        # the three terms summed in this order, as the detectors' thresholds were measured
        d = histogram_distance(self.hist[a], self.hist[b])
        p = np.minimum(mean_abs_difference(self.luma[a], self.luma[b]) / TOTAL_LUMA_CHANGE, 1.0)
        e = edge_change_ratio(self.edges[a], self.edges[b])
        return (d + e + p) / 3.0

    def _make_room(self, count: int) -> None:
        """Make sure `count` more frames fit, keeping the last `keep` frames."""
        if self.n + count - self.base <= self._cap:
            return
        keep_from = max(self.base, self.n - self.keep)
        src = slice(keep_from - self.base, self.n - self.base)
        k = self.n - keep_from
        for name in self.COLUMNS:
            column = getattr(self, name)
            column[:k] = column[src]
        self.base = keep_from

    def state(self) -> dict:
        """Position and filled rows as plain data; `load_state` on a ring built with the same
        settings puts them back where they were."""
        # only the last `keep` frames: nothing reads further back (`_make_room` may drop the
        # rest at any append), and the rows beyond them tripled the saved state
        keep_from = max(self.base, self.n - self.keep)
        rows = slice(keep_from - self.base, self.n - self.base)
        return {"n": self.n, "base": keep_from, "offset": self.offset,
                "columns": {name: getattr(self, name)[rows].copy() for name in self.COLUMNS}}

    def load_state(self, state: dict) -> None:
        """Continue the stream `state()` was taken from."""
        self.n, self.base, self.offset = int(state["n"]), int(state["base"]), state["offset"]
        for name, rows in state["columns"].items():
            getattr(self, name)[: len(rows)] = rows
