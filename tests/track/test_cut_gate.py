"""CutGate on real footage: a track must not run on from one shot into the next."""

from __future__ import annotations

import av
import numpy as np

from vstream.track.cut_gate import CutGate
from vstream.weights import test_video_path

#: analysed frames of the test video 5 apart (5 fps), at the teachers' analysis size; its scene 4
#: (tests/data/test_video_people.json, the singer's face by a microphone) starts at frame 103
FRAMES = (93, 98, 103, 108, 113, 118)


def _frames() -> dict[int, np.ndarray]:
    out = {}
    with av.open(str(test_video_path())) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in FRAMES:
                out[index] = frame.to_ndarray(format="rgb24", width=392, height=220)
            if index >= max(FRAMES):
                return out
    return out


def test_only_the_frame_after_the_cut_starts_a_new_picture() -> None:
    gate = CutGate()
    frames = _frames()
    assert [gate.is_cut(frames[i]) for i in FRAMES] == [False, False, True, False, False, False]


def test_a_restored_gate_compares_with_the_frame_before_the_checkpoint() -> None:
    frames = _frames()
    gate = CutGate()
    gate.is_cut(frames[98])
    restored = CutGate()
    restored.load_state(gate.state())
    assert restored.is_cut(frames[103])  # a fresh gate would call it the first frame
    assert not CutGate().is_cut(frames[103])
