"""Who is in view of one stream, decided as the frames are analysed: live enter, leave and
count events.

A fixed camera never cuts, so events that wait for a scene to close reach the store when the
camera stops. `PresenceTracker` decides them per analysed frame instead, from the identified
tracks the frame shows:

- `enter` when a person is first seen (a track of theirs was confirmed and identified), at the
  frame that track started, with that track's ID;
- `leave` when none of their tracks has been seen for `leave_after_s` media seconds, at the
  last frame they were seen, if they were last seen at the edge of the picture (walking out)
  or before a cut; someone last seen inside the picture, where people are more often hidden
  (behind a sign or another walker) or missed for a few frames than gone, leaves after
  `hidden_after_s` (at least `leave_after_s`; by default the same, so that every leave is
  prompt: a walker taken up again as a new track where they were lost keeps their person ID,
  `vstream.track.track_identities`, and so never left);
- `count` when the number of people in view changes, at the frame the change is decided.

Presence is per person ID, not per track: a face and a body of one person, or a track that
the tracker dropped and restarted within `leave_after_s`, are one person in view. The events
depend only on the analysed frames and the identities given, so a replay from a checkpoint
gives the same events (the state is plain data).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

ENTER, LEAVE, COUNT = "enter", "leave", "count"
#: default seconds a person must be unseen before they leave (a missed detection or a short
#: occlusion is not leaving; long enough for that at 5 analysed frames per second, short
#: enough that a leave reaches the store within about two seconds)
DEFAULT_LEAVE_AFTER_S = 1.0
#: default seconds a person last seen inside the picture must be unseen before they leave: as
#: long as anyone else, so that every leave reaches the store within two seconds (issue 13). A
#: walker hidden behind a sign or another walker whom the tracker takes up again as a new track
#: keeps their person ID (`vstream.track.track_identities`) and does not leave; a site that
#: prefers fewer, later leaves sets 3, the body tracker's re-finding time (docs/models.md,
#: "Where a person was last seen")
DEFAULT_LEAVE_HIDDEN_S = 1.0
#: frames a leave is remembered, to keep a late-identified track's enter after it
_LEFT_MEMORY_FRAMES = 10_000


#: how near the border of the picture (a fraction of its width or height) a box must come for
#: its person to be seen walking out when it is lost
EDGE = 0.03


@dataclass(frozen=True)
class Sighting:
    """A person seen in the analysed frame: the track that shows them, where that track
    started (the frame and time an `enter` carries), and whether its box touches the edge of
    the picture (`EDGE`; True where that is not known: they may have walked out)."""

    track_id: int
    first_frame: int
    first_s: float
    at_edge: bool = True


def at_edge(xyxy) -> bool:
    """Whether a box (x1, y1, x2, y2 as fractions of the picture) comes within EDGE of its
    border."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    return min(x1, y1) <= EDGE or max(x2, y2) >= 1.0 - EDGE


@dataclass(frozen=True)
class PresenceEvent:
    """A person enters or leaves (`person_id`, `track_id` of the track seen entering or last
    seen), or the number of people in view changes (`count`, person_id "", track_id 0);
    `people` is the number in view after it."""

    frame: int
    t_s: float
    kind: str
    person_id: str
    people: int
    track_id: int = 0


@dataclass
class _InView:
    track_id: int
    last_frame: int
    last_s: float
    at_edge: bool = True  # where they were last seen (True: gone from the picture)


class PresenceTracker:
    """The people in view of one stream; `update` per analysed frame, `finish` at the end."""

    def __init__(self, leave_after_s: float = DEFAULT_LEAVE_AFTER_S,
                 hidden_after_s: float = DEFAULT_LEAVE_HIDDEN_S) -> None:
        if leave_after_s < 0:
            raise ValueError(f"leave_after_s must be >= 0, got {leave_after_s}")
        self.leave_after_s = leave_after_s
        self.hidden_after_s = max(hidden_after_s, leave_after_s)
        self._in_view: dict[str, _InView] = {}
        self._shown = 0
        self._count_frame = -1
        self._last: tuple[int, float] = (-1, 0.0)
        #: last frame of the people who left recently (see `update`)
        self._left: dict[str, int] = {}

    @property
    def in_view(self) -> tuple[str, ...]:
        """The person IDs in view now, by ID."""
        return tuple(sorted(self._in_view))

    def update(self, frame: int, t_s: float, seen: Mapping[str, Sighting],
               cut: bool = False) -> list[PresenceEvent]:
        """The events decided at analysed frame `frame` (time `t_s`), where the people `seen`
        (person ID -> the track showing them) are in view, `cut` when the picture changed
        completely since the analysed frame before (nobody unseen since is hidden: they are
        out of the shot): enters by frame, then leaves by frame, then the count if it
        changed."""
        events = []
        if cut:
            for view in self._in_view.values():
                view.at_edge = True
        for person_id, s in sorted(seen.items(), key=lambda kv: (kv[1].first_frame, kv[0])):
            if person_id not in self._in_view:
                self._in_view[person_id] = _InView(s.track_id, frame, t_s)
                # a track identified late may have started before its person's last leave:
                # they enter now, so a person's enters and leaves alternate in frame order
                left = self._left.get(person_id)
                at = (s.first_frame, s.first_s) if left is None or s.first_frame > left else (frame, t_s)
                events.append(PresenceEvent(*at, ENTER, person_id, len(self._in_view), s.track_id))
            view = self._in_view[person_id]
            view.last_frame, view.last_s, view.at_edge = frame, t_s, s.at_edge
        gone = sorted((v.last_frame, p) for p, v in self._in_view.items()
                      if t_s - v.last_s > (self.leave_after_s if v.at_edge else self.hidden_after_s))
        events += [self._leave(p) for _, p in gone]
        self._left = {p: f for p, f in self._left.items() if f >= self._last[0] - _LEFT_MEMORY_FRAMES}
        self._last = (frame, t_s)
        return events + self._count(frame, t_s)

    def finish(self) -> list[PresenceEvent]:
        """End of stream: everyone in view leaves at their last frame."""
        gone = sorted((v.last_frame, p) for p, v in self._in_view.items())
        events = [self._leave(p) for _, p in gone]
        frame, t_s = self._last
        # one count row per frame: a count already decided at the last frame moves one on
        return events + self._count(frame + (frame == self._count_frame), t_s)

    def state(self) -> dict:
        """The tracker's state as plain data, for a checkpoint."""
        return {"in_view": {p: (v.track_id, v.last_frame, v.last_s, v.at_edge)
                            for p, v in self._in_view.items()},
                "shown": self._shown, "count_frame": self._count_frame, "last": self._last,
                "left": dict(self._left)}

    def load_state(self, state: dict) -> None:
        """Continue the stream `state()` was taken from."""
        self._in_view = {p: _InView(*v) for p, v in state["in_view"].items()}
        self._shown = int(state["shown"])
        self._count_frame = int(state["count_frame"])
        self._last = tuple(state["last"])
        self._left = dict(state["left"])

    def _leave(self, person_id: str) -> PresenceEvent:
        view = self._in_view.pop(person_id)
        self._left[person_id] = view.last_frame
        return PresenceEvent(view.last_frame, view.last_s, LEAVE, person_id, len(self._in_view),
                             view.track_id)

    def _count(self, frame: int, t_s: float) -> list[PresenceEvent]:
        if len(self._in_view) == self._shown or frame < 0:
            return []
        self._shown, self._count_frame = len(self._in_view), frame
        return [PresenceEvent(frame, t_s, COUNT, "", self._shown)]
