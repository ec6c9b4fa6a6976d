"""ContentShotDetector: the fast, CPU-only shot detector that looks at every frame at low resolution.

The work is split a file per idea:

- `feature_ring.FeatureRing`: per-frame features (histograms, luma, edges) computed once, and
  the frame-to-frame and long-range scores, for the last few seconds of the stream;
- `cuts.CutDetector`, `fades.FadeDetector`, `dissolves.DissolveDetector`: the three rules
  that read the ring (hard cuts; fades through a flat frame; dissolves and fades that never
  reach one);
- `transition_finder.TransitionFinder`: the three rules of one threshold set, in frame order,
  a fade reported once;
- `content_scan.ContentScan`: frames into the ring, at the stream's frame rate.

The detector reports every transition it sees. The minimum scene length is not its business:
the `Segmenter` composes a `MinSceneLengthFilter` after it (for "fast", 0.4 s), which
`settled_until` lets release a boundary as soon as no rival can come.
"""

from __future__ import annotations

from vstream.decode.frames import FrameBatch
from vstream.segment.content_params import ContentParams, Sensitivity, params_for
from vstream.segment.content_scan import ContentScan
from vstream.segment.detector import Boundary


class ContentShotDetector:
    """Fast histogram/edge/luma shot detector for cuts, dissolves and fades (a
    SettlingShotDetector).

    `input_size` is the (width, height) the decoder resizes to; (64, 36) and (48, 27) are
    tested. `sensitivity="candidates"` lowers every threshold for high recall (for a neural
    confirmer); `params` overrides the thresholds entirely. `fps` overrides the frame rate
    otherwise computed from the first two pts. Boundaries are `Candidate`s (a Boundary
    carrying the transition's frame span).
    """

    name = "fast"

    def __init__(
        self,
        input_size: tuple[int, int] = (64, 36),
        *,
        sensitivity: Sensitivity = "boundaries",
        fps: float | None = None,
        params: ContentParams | None = None,
        bins: int = 16,
        edge_threshold: int = 48,
    ) -> None:
        w, h = input_size
        if w < 8 or h < 8:
            raise ValueError(f"input_size must be at least (8, 8), got {input_size}")
        self.input_size = (int(w), int(h))
        self.sensitivity = sensitivity
        default = params_for(sensitivity)  # checks the name even when `params` override it
        self.params = params or default
        self._scan = ContentScan(self.input_size, [self.params], fps=fps, bins=bins,
                                 edge_threshold=edge_threshold)

    def push(self, frames: FrameBatch) -> list[Boundary]:
        """Consume the next frames of the stream; return the boundaries now decided, in order."""
        return list(self._scan.push(frames)[0])

    def flush(self) -> list[Boundary]:
        """End of stream: decide what look-ahead was waiting for and return it."""
        return list(self._scan.flush()[0])

    def settled_until(self) -> int:
        """Frame index below which every boundary has been returned."""
        return self._scan.settled_until()[0]

    def reset(self) -> None:
        """Forget the stream, ready for a new one."""
        self._scan.reset()

    def state(self) -> dict:
        """The stream's state as plain data (a checkpoint at a chunk boundary): `load_state` on
        a detector built with the same settings continues exactly as this one would."""
        return self._scan.state()

    def load_state(self, state: dict) -> None:
        """Continue the stream `state()` was taken from."""
        self._scan.load_state(state)
