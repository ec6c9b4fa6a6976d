"""The default shot detector: the fast content detector proposes, TransNetV2 confirms.

Two threshold sets of the content rules read one feature ring (`ContentScan`: the features are
computed once a frame): a strict one, whose boundaries are accepted as they are, and a sensitive
one, whose extra candidates (soft cuts, faint dissolves, and the false alarms of fast motion) are
shown to TransNetV2 on a short clip around the candidate. Each passes its own minimum scene
length filter first.
A candidate is kept when the network gives the transition at least `confirm_threshold`
probability. TransNetV2 costs ~11 ms a frame on a CPU core, the content detector ~0.03 ms, so the
network runs only where the cheap detector is unsure: a few percent of the frames.

The network runs through onnxruntime (`TransNetOnnx`; why not torch: see
`vstream.segment.transnet_onnx`), opened on the first candidate that needs it, so a stream whose
candidates the strict detector all settles never pays even that (tests/test_startup.py checks
that `vstream index --model none` imports no torch).
"""

from __future__ import annotations

from collections import deque
import numpy as np

from vstream.decode.frames import FrameBatch
from vstream.segment.candidate import Candidate
from vstream.segment.content_params import CANDIDATE_PARAMS, ContentParams
from vstream.segment.content_scan import ContentScan
from vstream.segment.detector import Boundary
from vstream.segment.min_scene import MinSceneLengthFilter
from vstream.segment.transnet_onnx import CLIP_FRAMES, TransNetOnnx

INPUT_SIZE = (48, 27)  # TransNetV2's input; the content detector works well at it too
#: a candidate counts as the strict detector's own if their frames are this close
MATCH_FRAMES = 2
#: at most this many frames are kept for clips (memory bound); `_forget_unneeded` keeps only
#: those a clip can still need: the content scan's look-back (~6 s at 25 fps) plus half a clip
RING_FRAMES = 512


class CombinedShotDetector:
    """ShotDetector: strict content boundaries + sensitive candidates confirmed by TransNetV2."""

    name = "combined"
    input_size = INPUT_SIZE

    def __init__(self, confirm_threshold: float = 0.1, network: TransNetOnnx | None = None,
                 min_scene_len: float = 0.4) -> None:
        if not 0.0 < confirm_threshold < 1.0:
            raise ValueError(f"confirm_threshold must be in (0, 1), got {confirm_threshold}")
        self.confirm_threshold = confirm_threshold
        # One feature ring, two threshold sets: strict (accepted as they are) and sensitive
        # (candidates for the network). Each has its own minimum scene length, applied before
        # the two meet, so a candidate too close to another never costs a network clip.
        self.scan = ContentScan(INPUT_SIZE, [ContentParams(), CANDIDATE_PARAMS])
        self.strict_filter: MinSceneLengthFilter[Candidate] = MinSceneLengthFilter(min_scene_len)
        self.sensitive_filter: MinSceneLengthFilter[Candidate] = MinSceneLengthFilter(min_scene_len)
        # opened on the first candidate that needs it: many streams never need it
        self.network = network if network is not None else TransNetOnnx()
        self.clips_confirmed = 0  # how often the network ran (a metric for the benchmark)
        self.frames_to_network = 0
        self.reset()

    def reset(self) -> None:
        """Forget the stream, ready for a new one (the network stays loaded)."""
        self.scan.reset()
        self.strict_filter.reset()
        self.sensitive_filter.reset()
        self._ring: deque[tuple[int, np.ndarray]] = deque(maxlen=RING_FRAMES)
        self._accepted: list[Candidate] = []  # strict boundaries not yet emitted
        self._pending: list[Candidate] = []  # sensitive candidates not yet judged
        self._last_frame = -1
        self._settled = 0

    def state(self) -> dict:
        """The stream's state as plain data: the content scan and its filters, the frame ring
        and the boundaries not yet emitted (never the network: `load_state` keeps this
        detector's)."""
        return {
            "scan": self.scan.state(), "strict_filter": self.strict_filter.state(),
            "sensitive_filter": self.sensitive_filter.state(),
            "ring_index": np.array([idx for idx, _ in self._ring], np.int64),
            "ring": (np.stack([image for _, image in self._ring]) if self._ring
                     else np.empty((0, INPUT_SIZE[1], INPUT_SIZE[0], 3), np.uint8)),
            "accepted": list(self._accepted), "pending": list(self._pending),
            "last_frame": self._last_frame, "settled": self._settled,
            "clips_confirmed": self.clips_confirmed,
            "frames_to_network": self.frames_to_network,
        }

    def load_state(self, state: dict) -> None:
        """Continue the stream `state()` was taken from."""
        self.scan.load_state(state["scan"])
        self.strict_filter.load_state(state["strict_filter"])
        self.sensitive_filter.load_state(state["sensitive_filter"])
        self._ring = deque(zip(state["ring_index"].tolist(), state["ring"]), maxlen=RING_FRAMES)
        self._accepted = list(state["accepted"])
        self._pending = list(state["pending"])
        self._last_frame = int(state["last_frame"])
        self._settled = int(state["settled"])
        self.clips_confirmed = int(state["clips_confirmed"])
        self.frames_to_network = int(state["frames_to_network"])

    def push(self, frames: FrameBatch) -> list[Boundary]:
        """Consume the next frames; return the boundaries now decided, in order."""
        if len(frames) == 0:
            return []
        for idx, image in zip(frames.frame_index.tolist(), frames.images):
            self._ring.append((idx, image))
        self._last_frame = int(frames.frame_index[-1])
        strict, sensitive = self.scan.push(frames)
        strict_settled, sensitive_settled = self.scan.settled_until()
        self.strict_filter.observe(frames)
        self.sensitive_filter.observe(frames)
        self._accepted += self.strict_filter.filter(strict, strict_settled)
        self._pending += self.sensitive_filter.filter(sensitive, sensitive_settled)
        decided = self._decide(min(self.strict_filter.settled_until(),
                                   self.sensitive_filter.settled_until()))
        self._forget_unneeded()
        return decided

    def settled_until(self) -> int:
        """Frame index below which every boundary has been returned (SettlingShotDetector)."""
        return self._settled

    def flush(self) -> list[Boundary]:
        """End of stream: judge what is still pending."""
        strict, sensitive = self.scan.flush()
        self._accepted += self.strict_filter.flush(strict)
        self._pending += self.sensitive_filter.flush(sensitive)
        return self._decide(self._last_frame + MATCH_FRAMES + 2)

    def _decide(self, frontier: int) -> list[Boundary]:
        """Judge what both content detectors have settled before `frontier - MATCH_FRAMES`."""
        limit = frontier - MATCH_FRAMES
        self._settled = max(self._settled, limit)
        ready = [c for c in self._pending if c.frame < limit]
        self._pending = [c for c in self._pending if c.frame >= limit]
        sure = [b for b in self._accepted if b.frame < limit]
        self._accepted = [b for b in self._accepted if b.frame >= limit]
        # A candidate the strict detector already reported, or one inside (or within the
        # minimum scene length of) a transition it reported, is not a new boundary.
        gap = max(MATCH_FRAMES, self.strict_filter.min_frames)
        known = sure + self._accepted
        doubtful = [c for c in ready if not any(_near(c, b, gap) for b in known)]
        confirmed = self._confirm(doubtful)
        return sorted(sure + confirmed, key=lambda b: b.frame)

    def _forget_unneeded(self) -> None:
        """Drop ring frames no clip can need any more, so the saved state (written per batch
        on the worker) holds a few seconds of frames, not RING_FRAMES. A clip starts half a
        clip before its candidate's transition; a candidate not yet judged is pending, held by
        the sensitive minimum-length filter (at or after its settled frame) or still in the
        scan, which starts none before the oldest frame it can read."""
        oldest = self.scan.oldest_readable()
        if oldest is None:
            return
        keep_from = min(oldest, self.sensitive_filter.settled_until())
        if self._pending:
            keep_from = min(keep_from, min(_clip_first(c) for c in self._pending))
        keep_from -= CLIP_FRAMES // 2 + MATCH_FRAMES
        ring = self._ring
        while ring and ring[0][0] < keep_from:
            ring.popleft()

    def _confirm(self, candidates: list[Candidate]) -> list[Boundary]:
        if not candidates:
            return []
        indices = np.fromiter((idx for idx, _ in self._ring), np.int64, len(self._ring))
        clips, spans = [], []
        for c in candidates:
            lo, hi = min(c.start, c.frame), max(c.end, c.frame)
            first = _clip_first(c)
            # Ring slots of the clip's frames; at the stream's ends the edge frame repeats,
            # as in TransNetV2's own padding.
            slots = np.searchsorted(indices, np.arange(first, first + CLIP_FRAMES))
            slots = np.clip(slots, 0, len(indices) - 1)
            clips.append(np.stack([self._ring[i][1] for i in slots]))
            spans.append((lo - MATCH_FRAMES - first, hi + MATCH_FRAMES - first))
        kept = []
        for c, (a, b), p in zip(candidates, spans, self._clip_probabilities(clips)):
            score = float(p[max(0, a) : b + 1].max())
            if score >= self.confirm_threshold:
                kept.append(Boundary(c.frame, score, c.kind))
        return kept

    def _clip_probabilities(self, clips: list[np.ndarray]) -> list[np.ndarray]:
        """TransNetV2 on each clip as it is: the network is convolutional in time, so a 32-frame
        clip costs a third of a reference 100-frame window (padding to a window would not)."""
        self.clips_confirmed += len(clips)
        self.frames_to_network += sum(len(clip) for clip in clips)
        return [self.network.probabilities(clip) for clip in clips]


def _clip_first(c: Candidate) -> int:
    """First frame of the TransNetV2 clip centred on candidate `c`'s transition."""
    lo, hi = min(c.start, c.frame), max(c.end, c.frame)
    return (lo + hi + 1) // 2 - CLIP_FRAMES // 2


def _near(c: Candidate, b: Candidate, gap: int) -> bool:
    """Does candidate `c` fall within `gap` frames of boundary `b` or of its transition span?"""
    return c.frame >= min(b.start, b.frame) - gap and c.frame <= max(b.end, b.frame) + gap
