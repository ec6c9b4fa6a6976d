"""The content detector's thresholds, and what its times come to in frames at a stream's rate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Sensitivity = Literal["boundaries", "candidates"]


@dataclass(frozen=True)
class ContentParams:
    """Thresholds of the content detector. Times are in seconds and become frames at the
    stream's fps (`FrameSpans.at`); scores are in [0, 1]."""

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


def params_for(sensitivity: Sensitivity) -> ContentParams:
    """The thresholds a sensitivity names; ValueError for any other name."""
    if sensitivity == "boundaries":
        return ContentParams()
    if sensitivity == "candidates":
        return CANDIDATE_PARAMS
    raise ValueError(f"sensitivity must be 'boundaries' or 'candidates', got {sensitivity!r}")


@dataclass(frozen=True)
class FrameSpans:
    """The times of a `ContentParams` in frames at one stream's frame rate."""

    #: rolling window of the adaptive cut threshold
    window: int
    #: a transient's picture must return within this many frames
    flash: int
    #: distance of the long-range comparison (frame t against t - span)
    span: int
    #: longest stretch of high long-range distance judged as one episode
    max_episode: int

    @classmethod
    def at(cls, params: ContentParams, fps: float) -> FrameSpans:
        """The spans at `fps`, each at least a few frames so a low rate still has look-back."""
        span = max(4, int(round(params.gradual_span_s * fps)))
        return cls(
            window=max(3, int(round(params.stats_window_s * fps))),
            flash=max(1, int(round(params.flash_s * fps))),
            span=span,
            max_episode=3 * span,
        )

    @property
    def look_back(self) -> int:
        """Frames behind the newest one the decisions still read: an episode fit reaches
        span + max_episode back; the stats windows and the flash check reach less far."""
        return self.span + self.max_episode + 2 * self.window + self.flash + 4

    @property
    def fold_reach(self) -> int:
        """How far back of a flat run a gradual candidate it folds can start."""
        return self.span + self.max_episode + 1
