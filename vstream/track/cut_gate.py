"""CutGate: every track ends where the picture changes completely between two analysed frames.

ByteTrack associates by box overlap (and appearance where a detection has one). Across a hard
cut the subject of the new shot often stands where the old one stood (a music video centres its
subjects), so a track, and the person it was identified as, ran on into the next shot: on the
test video 30 of 110 tracks crossed a scene boundary, one body track spanned 21 scenes, and that
is how the blonde dancer, the bartender and a male dancer came to carry the singer's ID
(docs/models.md, "People IDs against labels"). The segmenter knows a cut only after its
look-ahead, and presence events must not wait for it, so the analyser judges each pair of
consecutive analysed frames itself, with the shot detector's own measure at its 48x27 size
(`vstream.kernels.picture_change`: YCbCr histogram distance and mean luma difference).

`JUMP = 0.2`, measured: of the test video's 1060 pairs of consecutive analysed frames (5 fps),
119 of the 126 with a scene boundary between them reach it and 26 of the 934 without one do
(fast motion, flashes: a track split there is identified again); the fixed camera of vtest.avi
never comes near (its largest pair is 0.033).
"""

from __future__ import annotations

import cv2
import numpy as np

from vstream.kernels import frame_features, picture_change

#: the change between consecutive analysed frames at which every track ends (see above)
JUMP = 0.2
#: the shot detector's frame size (`vstream.segment.combined.INPUT_SIZE`), (width, height)
SIZE = (48, 27)


class CutGate:
    """`is_cut(image)` for each analysed frame in stream order: does it start a new picture?"""

    def __init__(self, jump: float = JUMP) -> None:
        self.jump = jump
        self._previous: tuple[np.ndarray, np.ndarray] | None = None  # (hist, luma) at SIZE

    def is_cut(self, image: np.ndarray) -> bool:
        """True when `image` (H, W, 3 uint8 RGB, any size) differs from the previous frame
        given by at least `jump`; False for the first frame."""
        small = cv2.resize(image, SIZE, interpolation=cv2.INTER_AREA)
        feats = frame_features(small[None])
        current = (feats.hist, feats.luma)
        previous, self._previous = self._previous, current
        if previous is None:
            return False
        return bool(picture_change(current[0], previous[0], current[1], previous[1])[0] >= self.jump)

    def state(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The previous frame's features, for a checkpoint."""
        return self._previous

    def load_state(self, state: tuple[np.ndarray, np.ndarray] | None) -> None:
        """Continue from `state()`."""
        self._previous = state
