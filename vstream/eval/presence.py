"""Enter and leave events against hand-marked identities: did each person who walked through a
camera's view get an `enter` when they came and a `leave` when they went, and how many enters
are not a person coming (a track broken by an occlusion that enters again, or not a person)?

The labels are one point per visible person per labelled frame, with identities that stay with
the person (`PointLabels`, `tests/data/vtest_identities.json`). A labelled person's stored
person IDs are those of the tracks whose boxes take their points (`assign_points`). A person
first marked after the first labelled frame came in between that frame and the one before, so
their enter is on time within one labelling interval of it (either side: the tracker needs a
few detections, a track may start on a partly visible person); a person marked on the first
labelled frame was in view already, and their enter is on time within one interval of it too.
Likewise a person last marked before the last labelled frame went, and their leave (at the last
frame they were seen) is on time within one interval of their last marked frame.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from vstream.detections import Detections
from vstream.eval.point_tracks import PointLabels, assign_points


@dataclass(frozen=True)
class PresenceScores:
    """How the enter and leave events of a labelled stretch match the people who were there."""

    people: int  # labelled people
    entered: int  # of them, those with an enter on time under one of their person IDs
    went: int  # labelled people last marked before the stretch's last labelled frame
    left: int  # of them, those with a leave on time under one of their person IDs
    enters: int  # enter events in the stretch
    extra: int  # enters that are no labelled person's on-time enter

    @property
    def enter_recall(self) -> float:
        return self.entered / self.people if self.people else 1.0

    @property
    def leave_recall(self) -> float:
        return self.left / self.went if self.went else 1.0

    def __str__(self) -> str:
        return (f"enters on time for {self.entered} of {self.people} people "
                f"({self.enter_recall:.2f}), leaves on time for {self.left} of {self.went} who "
                f"went ({self.leave_recall:.2f}); {self.enters} enters, {self.extra} of them "
                "no person's arrival")


def person_ids_of(labels: PointLabels, boxes: Mapping[int, Detections],
                  person_of_track: Mapping[int, str]) -> dict[int, set[str]]:
    """{labelled identity: the person IDs of the tracks whose boxes take their points}, over the
    labelled frames that have boxes (`boxes[frame].tracker_id`; -1 or a track with no person:
    none)."""
    found: dict[int, set[str]] = {int(i): set() for i in labels.identities}
    for frame, (ids, points) in labels.frames.items():
        d = boxes.get(frame)
        if d is None or not len(d):
            continue
        taken = assign_points(points, d.xyxy)
        for identity, row in zip(ids, taken):
            if not row.any():
                continue
            person = person_of_track.get(int(d.tracker_id[int(row.argmax())]))
            if person:
                found[int(identity)].add(person)
    return found


def score_presence(labels: PointLabels, boxes: Mapping[int, Detections],
                   person_of_track: Mapping[int, str],
                   events: Iterable[tuple[int, str, str]]) -> PresenceScores:
    """Score `events` ((frame, kind, person ID), of one stream) on the labelled stretch;
    `boxes` ({analysed frame: person boxes in the labels' pixels, with track IDs}) and
    `person_of_track` ({track ID: person ID}) say who the stored tracks are."""
    frames = sorted(labels.frames)
    if len(frames) < 2:
        raise ValueError("presence needs at least two labelled frames")
    interval = min(b - a for a, b in zip(frames, frames[1:]))
    last_labelled = frames[-1]
    seen: dict[int, list[int]] = {}
    for frame, (ids, _) in labels.frames.items():
        for identity in ids:
            seen.setdefault(int(identity), []).append(frame)
    ids_of = person_ids_of(labels, boxes, person_of_track)
    stretch = [(f, k, p) for f, k, p in events if f <= last_labelled + interval]
    enters = [(f, p) for f, k, p in stretch if k == "enter"]
    leaves = [(f, p) for f, k, p in stretch if k == "leave"]

    def on_time(candidates: list[tuple[int, str]], people: dict[int, int]) -> int:
        """Labelled people (identity -> frame expected) matched to an event of theirs within an
        interval, each event used once, nearest first."""
        pairs = sorted((abs(f - at), identity, k)
                       for identity, at in people.items()
                       for k, (f, p) in enumerate(candidates)
                       if p in ids_of[identity] and abs(f - at) <= interval)
        used_people: set[int] = set()
        used_events: set[int] = set()
        for _, identity, k in pairs:
            if identity not in used_people and k not in used_events:
                used_people.add(identity)
                used_events.add(k)
        return len(used_people)

    arrivals = {i: min(f) for i, f in seen.items()}
    departures = {i: max(f) for i, f in seen.items() if max(f) < last_labelled}
    entered = on_time(enters, arrivals)
    left = on_time(leaves, departures)
    return PresenceScores(people=len(seen), entered=entered, went=len(departures), left=left,
                          enters=len(enters), extra=len(enters) - entered)
