"""MinSceneLengthFilter, FrameRateProbe, and the Segmenter that composes the filter."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from vstream.segment.content import ContentShotDetector
from vstream.segment.detector import Boundary
from vstream.segment.frame_rate import FALLBACK_FPS, FrameRateProbe
from vstream.segment.min_scene import MinSceneLengthFilter
from vstream.segment.scenes import Segmenter
from scripted_detector import ScriptedDetector, batch  # tests/ is on pythonpath (pyproject)

# ---------------------------------------------------------------- the filter

@pytest.mark.parametrize("found, expected", [
    # 0.4 s at 25 fps is 10 frames: 30 and 36 are rivals, the stronger stands
    ([(30, 0.6), (36, 0.9)], [36]),
    ([(30, 0.9), (36, 0.6)], [30]),
    ([(30, 0.7), (36, 0.7)], [30]),  # a tie: the earlier
    ([(30, 0.5), (40, 0.5)], [30, 40]),  # exactly 10 frames apart: both
    ([(5, 0.9), (30, 0.5)], [30]),  # shot one must be 10 frames long too
    ([(30, 0.5), (36, 0.6), (44, 0.7)], [44]),  # the winner of a chain is compared on
], ids=["later-stronger", "earlier-stronger", "tie", "apart", "shot-one", "chain"])
def test_the_stronger_of_two_close_boundaries_stands(found, expected) -> None:
    keep: MinSceneLengthFilter[Boundary] = MinSceneLengthFilter(0.4)
    keep.observe(batch(0, 100))
    out = keep.filter([Boundary(f, s) for f, s in found], settled=100)
    assert [b.frame for b in out + keep.flush([])] == expected


def test_a_boundary_waits_until_no_rival_can_come() -> None:
    keep: MinSceneLengthFilter[Boundary] = MinSceneLengthFilter(0.4)
    keep.observe(batch(0, 50))
    assert keep.filter([Boundary(30, 0.5)], settled=35) == []
    assert keep.settled_until() == 30  # held: the filter has not answered for 30 yet
    assert keep.filter([], settled=40) == []  # a rival could still come at 39
    assert [b.frame for b in keep.filter([], settled=41)] == [30]
    assert keep.settled_until() == 41


def test_frames_count_from_the_stream_first_frame_index() -> None:
    keep: MinSceneLengthFilter[Boundary] = MinSceneLengthFilter(0.4)
    keep.observe(batch(0, 20, first=1000))
    assert keep.filter([Boundary(1005), Boundary(1012)], settled=1030) == [Boundary(1012)]


def test_the_rate_comes_from_the_first_two_pts_in_any_batches() -> None:
    keep: MinSceneLengthFilter[Boundary] = MinSceneLengthFilter(0.4)
    keep.observe(batch(0, 1, step=5))  # a lone first frame: 5 fps not known yet
    assert keep.min_frames == 0
    keep.observe(batch(1, 10, step=5))
    assert keep.min_frames == 2  # 0.4 s at 5 fps
    assert MinSceneLengthFilter(0.4, fps=50).min_frames == 20


def test_state_continues_the_stream() -> None:
    keep: MinSceneLengthFilter[Boundary] = MinSceneLengthFilter(0.4)
    keep.observe(batch(0, 40))
    keep.filter([Boundary(30, 0.5)], settled=35)
    again: MinSceneLengthFilter[Boundary] = MinSceneLengthFilter(0.4)
    again.load_state(keep.state())
    assert again.filter([Boundary(36, 0.9)], settled=45) == []
    assert again.flush([]) == [Boundary(36, 0.9)]


def test_filter_errors() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        MinSceneLengthFilter(-1)
    with pytest.raises(ValueError, match="observe"):
        MinSceneLengthFilter(0.4).filter([Boundary(3)], settled=10)


def test_probe_falls_back_on_broken_pts() -> None:
    probe = FrameRateProbe()
    assert probe.observe(batch(0, 3, step=0)) == FALLBACK_FPS
    with pytest.raises(ValueError, match="fps"):
        FrameRateProbe(fps=-1)


# ---------------------------------------------------------------- the segmenter composes it

def test_segmenter_closes_scenes_through_the_filter() -> None:
    script = [([Boundary(30, 0.5)], 32), ([Boundary(36, 0.9)], 46), ([], 60)]
    seg = Segmenter(ScriptedDetector(script, [Boundary(70, 0.5), Boundary(75, 0.9)]),
                    min_scene_len=0.4)
    assert seg.push(batch(0, 40)) == []
    assert seg.push(batch(40, 50)) == []  # 36 held: a rival at 45 could still come
    closed = seg.push(batch(50, 80))  # settled 60: 36 stands
    assert [(s.start_frame, s.end_frame) for s in closed] == [(0, 35)]
    rest = seg.finish()
    assert [(s.start_frame, s.end_frame) for s in rest] == [(36, 74), (75, 79)]


def test_segmenter_default_minimum_by_detector_name() -> None:
    assert Segmenter(ContentShotDetector()).min_scene.seconds == 0.4  # type: ignore[union-attr]
    assert Segmenter(ScriptedDetector([], [])).min_scene is None


def test_segmenter_refuses_a_minimum_its_detector_cannot_serve() -> None:
    class Plain(ScriptedDetector):
        settled_until = None  # type: ignore[assignment]

    with pytest.raises(TypeError, match="min_scene_len=0"):
        Segmenter(Plain([], []), min_scene_len=0.4)


def test_segmenter_state_must_match_its_filter() -> None:
    state = Segmenter(ContentShotDetector()).state()
    with pytest.raises(ValueError, match="minimum scene length"):
        Segmenter(ContentShotDetector(), min_scene_len=0).load_state(state)
