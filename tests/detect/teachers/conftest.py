"""Real frames of the test video at the teachers' input size, decoded once per test session."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from vstream.detect.labels import ANALYSIS_SIZE
from vstream.weights import test_video_path

#: frame indices used by the teacher tests (all early in the video, so decoding stays short):
#: 636 and 638 are a close-up of the lead singer in sunglasses, two frames apart in one shot;
#: 106, 530, 689, 742, 795 and 848 show him at various sizes; 901 is a whole-body shot of a man
#: walking along an arcade (the one frame of this set with a clear pedestrian and no face)
TEACHER_FRAMES = (106, 530, 636, 638, 689, 742, 795, 848, 901)


@pytest.fixture(scope="session")
def teacher_frames() -> dict[int, np.ndarray]:
    """{frame index: uint8 RGB (224, 384, 3)} for TEACHER_FRAMES, resized from 160x90 as the
    pipeline does (bilinear)."""
    wanted = set(TEACHER_FRAMES)
    out: dict[int, np.ndarray] = {}
    with av.open(str(test_video_path())) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                out[i] = cv2.resize(frame.to_ndarray(format="rgb24"), ANALYSIS_SIZE,
                                    interpolation=cv2.INTER_LINEAR)
            if i >= max(wanted):
                break
    assert set(out) == wanted
    return out
