"""People IDs scored against hand labels of who is in each scene (`tests/data/test_video_people.json`).

The labels name the people of 42 scenes of the test video by looking at frames (the singer, the
blonde dancer, ...; tests/data/README.md says how they were made), independently of any model,
so a gallery that merges two people or splits one cannot agree with them by sharing the error.

A model's IDs are read per labelled scene (the person IDs of the model's scene covering most of
its frames). The measures are the issue's:

- the singer's ID: the ID on the most scenes where his face is clearly in view;
- purity: of the labelled scenes carrying that ID, the share that show the singer;
- coverage: of the scenes where his face is clearly in view, the share carrying his ID;
- an ID of one's own (the blonde dancer): an ID other than the singer's that is on at least half
  of her scenes where the model found anyone, and of whose scenes at least half show her.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SINGER = "singer"


@dataclass(frozen=True)
class LabelledScene:
    """One labelled scene: its frames (inclusive) and who is in it."""

    scene: int
    frames: tuple[int, int]
    people: frozenset[str]
    singer_face_clear: bool


@dataclass(frozen=True)
class PeopleIdScore:
    """A model's people IDs against the labels of some scenes (see the module docstring)."""

    scenes: int
    singer_id: str | None
    purity: float  # NaN when no scene carries the singer's ID
    coverage: float  # NaN when no scene shows his face clearly
    own_ids: dict[str, str | None]  # identity -> its own ID (None: it has none)


def load_labels(path: Path) -> list[LabelledScene]:
    """The labelled scenes of a labels file."""
    data = json.loads(Path(path).read_text())
    return [LabelledScene(int(s["scene"]), (int(s["frames"][0]), int(s["frames"][1])),
                          frozenset(s["people"]), bool(s["singer_face_clear"]))
            for s in data["scenes"]]


def ids_per_label(labels: Sequence[LabelledScene],
                  scenes: Iterable[tuple[int, int, Iterable[str]]]) -> dict[int, frozenset[str]]:
    """The person IDs of the model scene (start frame, end frame inclusive, people) that covers
    most of each labelled scene's frames; empty where none overlaps."""
    scenes = [(a, b, frozenset(p)) for a, b, p in scenes]
    out = {}
    for label in labels:
        lo, hi = label.frames
        overlap = [(min(hi, b) - max(lo, a) + 1, people) for a, b, people in scenes]
        best = max(overlap, key=lambda o: o[0], default=(0, frozenset()))
        out[label.scene] = best[1] if best[0] > 0 else frozenset()
    return out


def singer_id(labels: Sequence[LabelledScene], ids: Mapping[int, frozenset[str]]) -> str | None:
    """The ID on the most scenes where the singer's face is clearly in view (lowest ID on a tie)."""
    votes = Counter(i for s in labels if s.singer_face_clear for i in ids[s.scene])
    if not votes:
        return None
    return min(votes, key=lambda i: (-votes[i], _number(i)))


def score(labels: Sequence[LabelledScene], ids: Mapping[int, frozenset[str]], singer: str | None,
          identities: Iterable[str] = ("blonde dancer",)) -> PeopleIdScore:
    """The measures of the module docstring on `labels` (a subset, e.g. the held-out half),
    with the singer's ID `singer` decided beforehand (`singer_id`, on all labels)."""
    carrying = [s for s in labels if singer is not None and singer in ids[s.scene]]
    clear = [s for s in labels if s.singer_face_clear]
    own = {}
    for identity in identities:
        found = [s for s in labels if identity in s.people and ids[s.scene]]
        votes = Counter(i for s in found for i in ids[s.scene] if i != singer)
        own[identity] = None
        for candidate, n in sorted(votes.items(), key=lambda kv: (-kv[1], _number(kv[0]))):
            theirs = [s for s in labels if candidate in ids[s.scene]]
            if 2 * n >= len(found) and 2 * sum(identity in s.people for s in theirs) >= len(theirs):
                own[identity] = candidate
            break
    return PeopleIdScore(
        scenes=len(labels), singer_id=singer,
        purity=_share(sum(SINGER in s.people for s in carrying), len(carrying)),
        coverage=_share(sum(singer in ids[s.scene] for s in clear), len(clear)),
        own_ids=own)


def _share(n: int, total: int) -> float:
    return n / total if total else float("nan")


def _number(person_id: str) -> int:
    digits = person_id.lstrip("pt")
    return int(digits) if digits.isdigit() else 1 << 30
