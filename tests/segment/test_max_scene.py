"""MaxSceneLengthFilter, and the Segmenter that composes it: a scene that never cuts (a fixed
camera) is cut at the maximum length, once no real cut can still come before."""

from __future__ import annotations

import pytest

from vstream.segment.content import ContentShotDetector
from vstream.segment.detector import Boundary
from vstream.segment.max_scene import LENGTH, MaxSceneLengthFilter
from vstream.segment.scenes import Segmenter
from scripted_detector import ScriptedDetector, batch  # tests/ is on pythonpath (pyproject)


def test_a_scene_is_cut_at_the_maximum_once_the_detector_has_settled_past_it() -> None:
    cap = MaxSceneLengthFilter(2.0)  # 50 frames at 25 fps
    cap.observe(batch(0, 120))
    assert cap.filter([], settled=50) == []  # a real cut at 49 could still come
    assert cap.filter([], settled=51) == [Boundary(50, 1.0, LENGTH)]
    assert cap.filter([], settled=120) == [Boundary(100, 1.0, LENGTH)]


def test_a_real_cut_restarts_the_count_and_one_at_the_maximum_is_not_doubled() -> None:
    cap = MaxSceneLengthFilter(2.0)
    cap.observe(batch(0, 200))
    out = cap.filter([Boundary(30), Boundary(80)], settled=200)
    assert [(b.frame, b.kind) for b in out] == [(30, "cut"), (80, "cut"), (130, LENGTH),
                                                (180, LENGTH)]
    assert cap.flush([], end=200) == []


def test_zero_adds_nothing_and_a_negative_length_is_refused() -> None:
    cap = MaxSceneLengthFilter(0)
    cap.observe(batch(0, 500))
    assert cap.filter([Boundary(10)], settled=500) == [Boundary(10)]
    with pytest.raises(ValueError, match="max_scene_s"):
        MaxSceneLengthFilter(-1)


def test_state_round_trip() -> None:
    cap = MaxSceneLengthFilter(2.0)
    cap.observe(batch(0, 40))
    cap.filter([Boundary(10)], settled=40)
    again = MaxSceneLengthFilter(2.0)
    again.load_state(cap.state())
    again.observe(batch(40, 100))
    assert again.filter([], settled=100) == [Boundary(60, 1.0, LENGTH)]


def test_segmenter_cuts_a_scene_without_cuts_at_the_maximum() -> None:
    script = [([], 45), ([Boundary(70, 0.5)], 90), ([], 160)]
    seg = Segmenter(ScriptedDetector(script, []), min_scene_len=0, max_scene_s=2.0)
    assert seg.push(batch(0, 50)) == []  # settled 45: the cut at 50 must wait
    closed = seg.push(batch(50, 100))
    assert [(s.start_frame, s.end_frame) for s in closed] == [(0, 49), (50, 69)]
    closed = seg.push(batch(100, 160))
    assert [(s.start_frame, s.end_frame) for s in closed] == [(70, 119)]
    assert [(s.start_frame, s.end_frame) for s in seg.finish()] == [(120, 159)]


def test_segmenter_with_both_filters_and_a_real_detector_keeps_its_state() -> None:
    seg = Segmenter(ContentShotDetector(input_size=(16, 9)), max_scene_s=1.0)
    state = seg.state()
    assert state["max_scene"] is not None and state["min_scene"] is not None
    again = Segmenter(ContentShotDetector(input_size=(16, 9)), max_scene_s=1.0)
    again.load_state(state)
    with pytest.raises(ValueError, match="maximum scene length"):
        Segmenter(ContentShotDetector(input_size=(16, 9))).load_state(state)
    # black frames never cut: 100 frames at 25 fps are four scenes of 1 s
    scenes = seg.push(batch(0, 100)) + seg.finish()
    assert [(s.start_frame, s.end_frame) for s in scenes] == [(0, 24), (25, 49), (50, 74),
                                                             (75, 99)]


def test_the_default_combined_detector_settles_so_a_camera_gets_scenes_of_the_maximum() -> None:
    from fractions import Fraction

    import numpy as np

    from vstream.decode.frames import FrameBatch
    from vstream.segment.combined import INPUT_SIZE, CombinedShotDetector

    seg = Segmenter(CombinedShotDetector(), max_scene_s=1.0)
    width, height = INPUT_SIZE
    closed = []
    for lo in range(0, 250, 50):  # 10 s of a grey wall at 25 fps, in 2 s chunks
        idx = np.arange(lo, lo + 50, dtype=np.int64)
        frames = np.full((50, height, width, 3), 128, np.uint8)
        closed += seg.push(FrameBatch("cam", frames, idx, idx, Fraction(1, 25)))
    # the content scan settles ~4 s behind the newest frame (its look-ahead): scenes of 1 s
    # are closed up to there while the stream goes on, the rest at its end
    assert seg.detector.settled_until() == 147
    assert [(s.start_frame, s.end_frame) for s in closed] == [(25 * k, 25 * k + 24) for k in range(5)]
    assert [(s.start_frame, s.end_frame) for s in seg.finish()] == \
        [(25 * k, 25 * k + 24) for k in range(5, 10)]
