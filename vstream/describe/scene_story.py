"""What happens in a scene: who is in it, its tags, its events and a paragraph saying so.

Pure functions over a closed scene's identified tracklets and analysed frames; the analyzer
(`vstream.stream.analyzer`) calls them when a scene closes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vstream.detect.labels import FACE, PERSON
from vstream.media import format_timecode
from vstream.track.tracklets import FrameRecord, Tracklet


@dataclass(frozen=True)
class SceneEvent:
    """A person enters or leaves (kind 'enter'/'leave'), or the number of people in view
    changes ('count', person_id '')."""

    frame: int
    t_s: float
    kind: str
    person_id: str
    people: int


@dataclass(frozen=True)
class SceneStory:
    people: tuple[str, ...]
    tags: tuple[str, ...]
    events: tuple[SceneEvent, ...]
    description: str


#: a face this tall (fraction of the frame height, median over the scene) makes a close-up
CLOSE_UP = 0.25
#: this many people in view at once make a group
GROUP = 3
#: the classifier's animal tags (`vstream/detect/data/tag_map.json`). ImageNet has no person
#: class, so its classifier puts people's hair, coats and skin on dog breeds and primates: in
#: 42 labelled scenes of the test video, 13 "dog" tags, every one a person
#: (tests/data/test_video_scene_tags.json).
ANIMAL_TAGS = frozenset({"dog", "cat", "big cat", "bird", "fish", "reptile", "insect", "bear",
                         "primate", "elephant", "horse"})


def detection_tags(records: Sequence[FrameRecord]) -> tuple[str, ...]:
    """Tags the detector sees, which ImageNet's classes cannot say (it has no person class):
    "person" when people are in view in at least half the analysed frames, "group" when
    `GROUP` or more are at once, "close-up" when the faces fill a quarter of the frame height."""
    if not records:
        return ()
    with_people, most, face_heights = 0, 0, []
    for r in records:
        d = r.detections
        people = int((d.class_id == PERSON).sum())
        with_people += people > 0
        most = max(most, people)
        faces = d.xyxy[d.class_id == FACE]
        face_heights += ((faces[:, 3] - faces[:, 1]) / r.size[1]).tolist()
    tags = []
    if with_people * 2 >= len(records):
        tags.append("person")
    if most >= GROUP:
        tags.append("group")
    if face_heights and float(np.median(face_heights)) >= CLOSE_UP:
        tags.append("close-up")
    return tuple(tags)


def scene_tags(records: Sequence[FrameRecord], tag_names: Sequence[str], top_k: int = 3,
               min_score: float = 0.15) -> tuple[str, ...]:
    """The detector's tags (`detection_tags`), then the `top_k` classifier tags by mean score
    over the scene's analysed frames: those scoring at least `min_score`, and the best one
    below it only when the detector tagged nothing (a scene is never left untagged). A scene
    the detector tags "person" gets no animal tag (`ANIMAL_TAGS`): there the classifier's
    animal is nearly always the person.

    Below `min_score` a tag is the sum of many small probabilities rather than a class the
    classifier sees: all 8 "musical instrument" tags of the labelled test-video scenes were
    singers' faces whose 26 instrument classes added up to 0.06-0.14 (oboe, bassoon, panpipe
    at 0.01-0.02 each), none among the frame's five likeliest classes."""
    scores = [r.tag_scores for r in records if r.tag_scores is not None]
    seen = detection_tags(records)
    if not scores:
        return seen
    mean = np.mean(scores, axis=0)
    allowed = [j for j in np.argsort(-mean, kind="stable")
               if not ("person" in seen and tag_names[j] in ANIMAL_TAGS)][:top_k]
    return seen + tuple(tag_names[j] for k, j in enumerate(allowed)
                        if mean[j] >= min_score or (k == 0 and not seen))


def scene_people(tracklets: Sequence[Tracklet]) -> tuple[str, ...]:
    """Person IDs of the identified tracklets, in order of first appearance."""
    seen: dict[str, int] = {}
    for t in sorted(tracklets, key=lambda t: t.first_frame):
        if t.person_id:
            seen.setdefault(t.person_id, t.first_frame)
    return tuple(seen)


def scene_events(tracklets: Sequence[Tracklet], records: Sequence[FrameRecord],
                 settle: int = 2) -> tuple[SceneEvent, ...]:
    """Enter and leave events of each person (first and last analysed frame they are seen in),
    and count events when the number of people in view changes and stays changed for `settle`
    analysed frames (a missed detection in one frame is not someone leaving)."""
    frames = [r.frame_index for r in records]
    time_of = {r.frame_index: r.t_s for r in records}
    present: dict[int, set[str]] = {f: set() for f in frames}
    for t in tracklets:
        if t.person_id:
            for f in t.frames:
                present.setdefault(f, set()).add(t.person_id)
    events: list[SceneEvent] = []
    spans: dict[str, list[int]] = {}
    for f in sorted(present):
        for p in present[f]:
            spans.setdefault(p, []).append(f)
    counts = [len(present[f]) for f in frames]
    for p, fs in spans.items():
        events.append(SceneEvent(fs[0], time_of.get(fs[0], 0.0), "enter", p, counts[frames.index(fs[0])]))
        events.append(SceneEvent(fs[-1], time_of.get(fs[-1], 0.0), "leave", p, counts[frames.index(fs[-1])]))
    shown = 0
    for i, (f, c) in enumerate(zip(frames, counts)):
        if c != shown and all(c == x for x in counts[i : i + settle]):
            events.append(SceneEvent(f, time_of[f], "count", "", c))
            shown = c
    order = {"enter": 0, "count": 1, "leave": 2}
    return tuple(sorted(events, key=lambda e: (e.frame, order[e.kind], e.person_id)))


#: an enter this close to the start of a scene (or a leave to its end) is just the cut
EDGE_S = 0.5


def moves(events: Sequence[SceneEvent], start_s: float, end_s: float) -> tuple[str, ...]:
    """"p4 enters at 00:01:12.0" for each enter or leave away from the scene's edges."""
    return tuple(f"{e.person_id} {'enters' if e.kind == 'enter' else 'leaves'} at {format_timecode(e.t_s)}"
                 for e in events if (e.kind == "enter" and e.t_s > start_s + EDGE_S)
                 or (e.kind == "leave" and e.t_s < end_s - EDGE_S))


def describe(start_s: float, end_s: float, tracklets: Sequence[Tracklet],
             records: Sequence[FrameRecord], tag_names: Sequence[str]) -> SceneStory:
    """The scene's people, tags, events and one paragraph of text."""
    people = scene_people(tracklets)
    tags = scene_tags(records, tag_names)
    events = scene_events(tracklets, records)
    return SceneStory(people, tags, events, _text(start_s, end_s, people, tags, events))


def _text(start_s: float, end_s: float, people: tuple[str, ...], tags: tuple[str, ...],
          events: tuple[SceneEvent, ...]) -> str:
    span = f"{format_timecode(start_s)}–{format_timecode(end_s)} ({end_s - start_s:.1f} s)"
    counts = [e.people for e in events if e.kind == "count"]
    if not people:
        who = "No one is seen."
    elif len(people) == 1:
        who = f"{people[0]} is on screen."
    else:
        who = f"{_join(people)} appear, at most {max(counts, default=len(people))} at once."
    sentences = [f"{span}.", who]
    if tags:
        sentences.append(f"It looks like: {', '.join(tags)}.")
    moved = moves(events, start_s, end_s)
    if moved:
        sentences.append(_join(moved) + ".")
    return " ".join(sentences)


def _join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
