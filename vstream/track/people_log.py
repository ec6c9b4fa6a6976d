"""`PeopleLog`: a people gallery as the fold of an ordered log of what workers saw.

Several workers identify people at once (`vstream.kafka.people_registry`). If each minted IDs
from its own gallery, two would give `p5` to two different people, and one person seen by two
workers would get two IDs. So the gallery is not kept by any worker: it is the fold of one
ordered log, in which every worker appends what it sees and which every worker folds, in the
log's order, by the rules below. The same records in the same order give every worker the same
gallery, the same IDs included, without a lock or a leader.

Records, one per identified tracklet (`PeopleRecord`):

- `new`: no person the writer knew matched the tracklet's appearance. Folded: the person the
  gallery folded so far matches, if any (another worker minted them first: the race is decided
  by the log's order), else a new person numbered after the highest. Minting waits for this
  decision, so an ID is used only once the log has made it.
- `seen`: the tracklet matched a person: their exemplars learn its appearance.
- `known`: a person some earlier run stored (the store's `people` rows, from before the log or
  from `vstream index`), entered as they were; ignored when the ID is folded already.

A `new` carries its writer's match threshold, so every reader decides it as its writer would.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass

import numpy as np

from vstream.track.gallery import PeopleGallery, Person

log = logging.getLogger(__name__)

NEW, SEEN, KNOWN = "new", "seen", "known"
KINDS = (NEW, SEEN, KNOWN)


class PeopleRecordError(ValueError):
    """Bytes that are not a people record (another program's message, a newer format)."""


@dataclass(frozen=True, eq=False)
class PeopleRecord:
    """One entry of the people log. `embedding` is a tracklet's unit appearance (`new`, `seen`);
    `person` is None for `new`; `exemplars` (k, d) only for `known`."""

    kind: str
    model_version: str
    stream_id: str
    t_s: float
    embedding: np.ndarray | None = None
    threshold: float = 1.0
    person: str | None = None
    exemplars: np.ndarray | None = None
    tracklets: int = 0

    def to_bytes(self) -> bytes:
        """JSON with the vectors as base64 float32."""
        doc = {"kind": self.kind, "model": self.model_version, "stream": self.stream_id,
               "t_s": self.t_s, "threshold": self.threshold, "person": self.person,
               "tracklets": self.tracklets}
        for name in ("embedding", "exemplars"):
            value = getattr(self, name)
            if value is not None:
                array = np.ascontiguousarray(value, np.float32)
                doc[name] = [list(array.shape), base64.b64encode(array.tobytes()).decode()]
        return json.dumps(doc).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> PeopleRecord:
        """The record `to_bytes` made. Raises PeopleRecordError."""
        try:
            doc = json.loads(data)
            arrays = {}
            for name in ("embedding", "exemplars"):
                if doc.get(name) is not None:
                    shape, b64 = doc[name]
                    arrays[name] = np.frombuffer(base64.b64decode(b64), np.float32).reshape(shape)
            record = cls(kind=doc["kind"], model_version=doc["model"], stream_id=doc["stream"],
                         t_s=float(doc["t_s"]), threshold=float(doc["threshold"]),
                         person=doc["person"], tracklets=int(doc["tracklets"]), **arrays)
        except (ValueError, KeyError, TypeError, AttributeError) as ex:
            raise PeopleRecordError(f"not a people record: {ex}") from ex
        needs = {NEW: record.embedding, SEEN: record.embedding, KNOWN: record.exemplars}
        if record.kind not in KINDS or needs[record.kind] is None \
                or (record.kind != NEW and not record.person):
            raise PeopleRecordError(f"not a people record: kind {record.kind!r} without its fields")
        return record

    @classmethod
    def of_person(cls, person: Person) -> PeopleRecord:
        """A `known` record of a stored person."""
        return cls(KNOWN, person.model_version, person.first_stream, person.first_s,
                   person=person.person_id, exemplars=person.exemplars,
                   tracklets=person.tracklets)


class PeopleLog:
    """The gallery of `model_version` folded from a people log, record after record."""

    def __init__(self, model_version: str, match_threshold: float,
                 learn_threshold: float | None = None) -> None:
        self.gallery = PeopleGallery(model_version, match_threshold,
                                     learn_threshold=learn_threshold)

    def apply(self, record: PeopleRecord) -> str | None:
        """Fold the log's next record; return the person it is about (for `new`: the one the
        log decided), None for a record of another model."""
        gallery = self.gallery
        if record.model_version != gallery.model_version:
            return None
        if record.kind == KNOWN:
            if record.person not in gallery:
                gallery.load([Person(record.model_version, record.person, record.exemplars,
                                     record.tracklets, record.stream_id, record.t_s,
                                     record.stream_id, record.t_s, record.tracklets)])
            return record.person
        person = record.person
        if record.kind == NEW:
            best, similarity = gallery.best_match(record.embedding)
            person = best if best is not None and similarity >= record.threshold else None
            person = person or gallery.next_id()
        elif person not in gallery:  # a `seen` of a person the log never had: not from us
            log.warning("people log: %s seen but never entered; ignored", person)
            return None
        gallery.add(person, record.embedding, record.stream_id, record.t_s)
        return person
