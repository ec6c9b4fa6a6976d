"""Rows vstream writes: one frozen dataclass per table, and their deterministic IDs.

Row IDs are what make writes idempotent: re-indexing the same video with the same model gives
the same IDs, and the writer skips IDs already stored. They come from blake2b, never from
Python's ``hash()``, which is salted per process (PYTHONHASHSEED) and so differs between a
worker and its restarted self.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone

from vstream.redact import redact_url

# Kinds of row, mixed into the row ID so a scene and a detection at the same position never
# share an ID.
KIND_SCENE = "scene"
KIND_DETECTION = "detection"
KIND_TRACK = "track"
KIND_EVENT = "event"

Position = int | tuple[int | str, ...]


def row_id_for(stream_id: str, kind: str, position: Position, model_version: str) -> int:
    """A deterministic UInt64 row ID for the row of `kind` at `position` in a stream.

    `position` is the row's place within its stream and kind: an int (a scene's start frame) or
    a tuple of ints and strings (a detection's frame and rank). The parts are JSON-encoded
    before hashing so no two different tuples can produce the same bytes (plain concatenation
    would make ("ab", "c") equal ("a", "bc")).
    """
    parts = position if isinstance(position, tuple) else (position,)
    for part in parts:
        if isinstance(part, bool) or not isinstance(part, (int, str)):
            raise TypeError(f"position must be an int or a tuple of ints and strings, got {position!r}")
    key = json.dumps([stream_id, kind, position if isinstance(position, int) else list(position),
                      model_version], ensure_ascii=False)
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _utc_seconds(value: datetime | None, name: str) -> datetime | None:
    """`value` in UTC with microseconds dropped: ClickHouse DateTime keeps whole seconds, so a
    row read back compares equal to the row written."""
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{name} must be timezone-aware (e.g. datetime.now(timezone.utc)), got naive {value}"
        )
    return value.astimezone(timezone.utc).replace(microsecond=0)


def utc_now() -> datetime:
    """Now, in UTC, to the second (the resolution of ClickHouse DateTime)."""
    return datetime.now(timezone.utc).replace(microsecond=0)


#: a stream indexed from its first frame to its last (`StreamRow.status`)
COMPLETE = "complete"
#: a stream indexed only as far as it could be decoded: a truncated or damaged file
PARTIAL = "partial"
STREAM_STATUSES = (COMPLETE, PARTIAL)


@dataclass(frozen=True)
class StreamRow:
    """One indexed stream (a file or a live source): the `streams` table.

    `source` is stored redacted (`vstream.redact.redact_url`), so camera passwords never
    reach the store. `indexed_at` is filled with the write time by the writer when left as None.
    `status` (schema version 6) is `complete`, or `partial` for a file indexed only as far as
    it decodes (cut short, or with chunks that could not be decoded and were skipped); then
    `frames` counts the frames indexed and `status_reason` says what is missing, in one line.
    """

    stream_id: str
    source: str
    codec: str
    width: int
    height: int
    fps: float
    frames: int
    duration_s: float
    model_version: str
    indexed_at: datetime | None = None
    status: str = COMPLETE
    status_reason: str = ""

    def __post_init__(self) -> None:
        if not self.stream_id:
            raise ValueError("stream_id must be a non-empty string")
        if self.status not in STREAM_STATUSES:
            raise ValueError(f"status must be one of {STREAM_STATUSES}, got {self.status!r}")
        for name in ("width", "height", "frames"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        object.__setattr__(self, "source", redact_url(self.source))
        object.__setattr__(self, "indexed_at", _utc_seconds(self.indexed_at, "indexed_at"))


@dataclass(frozen=True)
class SceneRow:
    """One scene of a stream: the `scenes` table.

    `row_id` is ``row_id_for(stream_id, "scene", start_frame, model_version)``. The position is
    the start frame, not scene_index: a frame number is a fact of the media, while an index
    depends on a counter a restarted worker could get wrong, and a wrong index would make a new
    scene collide with a stored one and be skipped. Leave `row_id` out to have it computed;
    one passed in must equal it (ValueError otherwise), so identity never disagrees with
    content. `written_at` is filled with the write time by the writer when left as None.
    """

    stream_id: str
    scene_index: int
    start_s: float
    end_s: float
    start_frame: int
    end_frame: int
    model_version: str
    written_at: datetime | None = None
    row_id: int | None = None  # always an int after construction
    #: readable tags of the scene, strongest first (schema version 2)
    tags: tuple[str, ...] = ()
    #: person IDs seen in the scene, by first appearance, and a paragraph saying what happens
    #: (schema version 3)
    people: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        if not self.stream_id:
            raise ValueError("stream_id must be a non-empty string")
        object.__setattr__(self, "tags", tuple(self.tags))
        object.__setattr__(self, "people", tuple(self.people))
        if self.scene_index < 0:
            raise ValueError(f"scene_index must be >= 0, got {self.scene_index}")
        if self.end_s < self.start_s:
            raise ValueError(f"scene ends before it starts: start_s={self.start_s} end_s={self.end_s}")
        if self.start_frame < 0 or self.end_frame < self.start_frame:
            raise ValueError(
                f"need 0 <= start_frame <= end_frame, got {self.start_frame}..{self.end_frame}"
            )
        object.__setattr__(self, "written_at", _utc_seconds(self.written_at, "written_at"))
        expected = row_id_for(self.stream_id, KIND_SCENE, self.start_frame, self.model_version)
        if self.row_id is not None and self.row_id != expected:
            raise ValueError(
                f"row_id {self.row_id} does not match the scene: leave it out, or pass "
                f"row_id_for(stream_id, 'scene', start_frame, model_version) = {expected}"
            )
        object.__setattr__(self, "row_id", expected)


def _identify(row: object, kind: str, position: Position) -> None:
    """Set `row.row_id` from its identity, refusing a passed-in ID that disagrees with it."""
    expected = row_id_for(row.stream_id, kind, position, row.model_version)  # type: ignore[attr-defined]
    given = row.row_id  # type: ignore[attr-defined]
    if given is not None and given != expected:
        raise ValueError(f"row_id {given} does not match the {kind} row: leave it out to have it computed")
    if not row.stream_id:  # type: ignore[attr-defined]
        raise ValueError("stream_id must be a non-empty string")
    object.__setattr__(row, "row_id", expected)
    object.__setattr__(row, "written_at", _utc_seconds(row.written_at, "written_at"))  # type: ignore[attr-defined]


@dataclass(frozen=True)
class DetectionRow:
    """One detection on an analysed frame: the `detections` table.

    Boxes are fractions of the frame (0..1). `rank` is the detection's place in its frame's
    output; identity is (frame, rank). `track_id` 0 means no confirmed track.
    """

    stream_id: str
    frame: int
    rank: int
    t_s: float
    class_name: str
    score: float
    x1: float
    y1: float
    x2: float
    y2: float
    track_id: int
    model_version: str
    written_at: datetime | None = None
    row_id: int | None = None

    def __post_init__(self) -> None:
        _identify(self, KIND_DETECTION, (self.frame, self.rank))

    def values(self) -> tuple:
        return (self.row_id, self.stream_id, self.frame, self.rank, self.t_s, self.class_name,
                self.score, self.x1, self.y1, self.x2, self.y2, self.track_id,
                self.model_version, self.written_at)


@dataclass(frozen=True)
class TrackRow:
    """One track within one scene (a tracklet): the `tracks` table. Identity: the tracklet's
    first frame and track ID."""

    stream_id: str
    track_id: int
    scene_index: int
    class_name: str
    person_id: str
    first_frame: int
    last_frame: int
    first_s: float
    last_s: float
    detections: int
    model_version: str
    written_at: datetime | None = None
    row_id: int | None = None

    def __post_init__(self) -> None:
        if self.last_frame < self.first_frame:
            raise ValueError(f"track ends before it starts: {self.first_frame}..{self.last_frame}")
        _identify(self, KIND_TRACK, (self.first_frame, self.track_id))

    def values(self) -> tuple:
        return (self.row_id, self.stream_id, self.track_id, self.scene_index, self.class_name,
                self.person_id, self.first_frame, self.last_frame, self.first_s, self.last_s,
                self.detections, self.model_version, self.written_at)


#: an event row's kind for a live stream that came back after a gap (see `EventRow`)
STREAM_GAP = "stream_gap"
#: what an event row can say
EVENT_KINDS = ("enter", "leave", "count", STREAM_GAP)


@dataclass(frozen=True)
class EventRow:
    """Something that happens in a stream: the `events` table. Identity: (frame, kind, person).

    enter, leave and count are decided as the frames are analysed (vstream.track.presence),
    so an event has no scene column: its frame places it in its scene. A `stream_gap` row marks
    where a live stream's video resumed after the source was lost: `frame` and `t_s` are the
    first frame after the hole, `person_id` is "" and `people` the people in view when it came
    back. How long the hole was has no column: it is in the event published for the row
    (vstream.kafka.events).
    """

    stream_id: str
    frame: int
    t_s: float
    kind: str
    person_id: str
    people: int
    model_version: str
    written_at: datetime | None = None
    row_id: int | None = None
    #: the track seen entering or last seen (enter, leave); 0 otherwise. Not part of the
    #: identity: one person enters or leaves once per frame
    track_id: int = 0

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"event kind must be one of {EVENT_KINDS}, got {self.kind!r}")
        _identify(self, KIND_EVENT, (self.frame, self.kind, self.person_id))

    def values(self) -> tuple:
        return (self.row_id, self.stream_id, self.frame, self.t_s, self.kind, self.person_id,
                self.people, self.model_version, self.written_at, self.track_id)


@dataclass(frozen=True)
class PersonRow:
    """One person of a model's people gallery: the `people` table (see vstream.track.gallery).

    `exemplars` is (k, dim) float32, flattened in the table. `version` grows with every
    tracklet seen, so the newest row of a person wins.
    """

    model_version: str
    person_id: str
    exemplars: tuple[tuple[float, ...], ...]
    tracklets: int
    first_stream: str
    first_s: float
    last_stream: str
    last_s: float
    version: int
    updated_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "updated_at", _utc_seconds(self.updated_at, "updated_at"))

    @property
    def dim(self) -> int:
        return len(self.exemplars[0]) if self.exemplars else 0

    def values(self) -> tuple:
        flat = [float(v) for e in self.exemplars for v in e]
        return (self.model_version, self.person_id, flat, self.dim, self.tracklets,
                self.first_stream, self.first_s, self.last_stream, self.last_s, self.version,
                self.updated_at)
