"""Scoring enter and leave events against hand-marked identities (`vstream.eval.presence`)."""

from __future__ import annotations

import numpy as np
import pytest

from vstream.detections import Detections
from vstream.eval.point_tracks import PointLabels
from vstream.eval.presence import score_presence

# Two people marked once a second (every 10 frames) over frames 0-60: A in view from the start
# until frame 30, B walks in at frame 20 and stays.
LABELS = PointLabels({
    f: (np.array([i for i, _ in people], np.int64), np.array([p for _, p in people], np.float32))
    for f, people in {0: [(1, (10, 10))], 10: [(1, (20, 10))], 20: [(1, (30, 10)), (2, (90, 50))],
                      30: [(1, (40, 10)), (2, (85, 50))], 40: [(2, (80, 50))],
                      50: [(2, (75, 50))], 60: [(2, (70, 50))]}.items()})


def _boxes(track_of_a: dict[int, int], track_of_b: dict[int, int]) -> dict[int, Detections]:
    """Boxes around A's and B's points on each labelled frame, with the given track IDs."""
    out = {}
    for frame, (ids, points) in LABELS.frames.items():
        tracks = {1: track_of_a, 2: track_of_b}
        keep = [k for k, i in enumerate(ids) if frame in tracks[int(i)]]
        xyxy = np.array([[*(points[k] - 5), *(points[k] + 5)] for k in keep], np.float32)
        out[frame] = Detections(xyxy.reshape(-1, 4), np.ones(len(keep), np.float32),
                                tracker_id=np.array([tracks[int(ids[k])][frame] for k in keep],
                                                    np.int64))
    return out


def test_one_enter_and_one_leave_per_person_on_time_score_full_marks() -> None:
    boxes = _boxes({f: 1 for f in (0, 10, 20, 30)}, {f: 2 for f in (20, 30, 40, 50, 60)})
    events = [(2, "enter", "p1"), (18, "enter", "p2"), (34, "leave", "p1")]
    s = score_presence(LABELS, boxes, {1: "p1", 2: "p2"}, events)
    assert (s.people, s.entered, s.went, s.left, s.enters, s.extra) == (2, 2, 1, 1, 2, 0)
    assert s.enter_recall == s.leave_recall == 1.0


def test_a_broken_track_that_enters_again_is_extra_and_a_late_or_wrong_event_misses() -> None:
    # B's track breaks at frame 40 and comes back as a new person p3, who enters again
    boxes = _boxes({f: 1 for f in (0, 10, 20, 30)}, {20: 2, 30: 2, 40: 3, 50: 3, 60: 3})
    events = [(2, "enter", "p1"), (18, "enter", "p2"), (38, "enter", "p3"),
              (45, "leave", "p1"),  # more than an interval after A was last marked: late
              (33, "leave", "p2")]  # B's ID leaving while B stays: not A's leave
    s = score_presence(LABELS, boxes, {1: "p1", 2: "p2", 3: "p3"}, events)
    assert (s.entered, s.left, s.enters, s.extra) == (2, 0, 3, 1)


def test_an_enter_of_someone_else_or_too_early_does_not_count() -> None:
    boxes = _boxes({f: 1 for f in (0, 10, 20, 30)}, {f: 2 for f in (20, 30, 40, 50, 60)})
    # p1 enters at the start; an enter of p1 again near B's arrival is not B's
    events = [(0, "enter", "p1"), (19, "enter", "p1"), (5, "enter", "p2")]
    s = score_presence(LABELS, boxes, {1: "p1", 2: "p2"}, events)
    assert (s.entered, s.extra) == (1, 2)
    with pytest.raises(ValueError, match="two labelled frames"):
        score_presence(PointLabels({0: LABELS.frames[0]}), boxes, {}, [])
