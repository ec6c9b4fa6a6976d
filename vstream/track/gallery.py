"""`PeopleGallery`: stable person IDs (p1, p2, ...) across scenes, streams and runs.

A person is a handful of exemplar appearance vectors (unit-norm embeddings from the frame
model: a face's when one was seen, the body's otherwise). A tracklet (one track within one
scene) is identified by its mean embedding: the person whose closest exemplar is most similar,
if that similarity reaches `match_threshold`, else a new person. Several exemplars per person,
not one centroid, because one face looks different with and without sunglasses, lit from the
left or the right: a centroid between the looks would match neither well (DESIGN.md saw a
fixed-threshold, one-centroid clustering split the lead singer in two).

`match_threshold` is measured, not guessed: per model, against hand labels of who is in each of
42 scenes of the test video (`vstream.eval.people_labels`, tests/data/test_video_people.json),
calibrated on half of them and checked on the other half; docs/models.md gives the measurement.

The gallery is persisted in the `people` table (`people` / `load`, as `Person` values; the store
makes the rows), so a later run, on another video or camera, re-identifies known people.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

#: an exemplar this similar to one the person already has adds nothing new
_NOVELTY = 0.92


@dataclass(frozen=True, eq=False)
class Person:
    """One person of a model's gallery as it is stored and loaded again. `exemplars` is
    (k, dim) float32, unit rows; `version` grows with every tracklet seen, so the newest
    record of a person wins."""

    model_version: str
    person_id: str
    exemplars: np.ndarray
    tracklets: int
    first_stream: str
    first_s: float
    last_stream: str
    last_s: float
    version: int


class Gallery(Protocol):
    """What the stages ask of a people gallery: `PeopleGallery` in one process, or
    `vstream.kafka.people_registry.PeopleRegistry`, the one all Kafka workers share."""

    @property
    def model_version(self) -> str: ...

    def identify(self, embeddings: np.ndarray, stream_id: str, t_s: float, *,
                 may_create: bool = True) -> str | None: ...

    def people(self, changed_only: bool = True) -> list[Person]: ...


class PeopleGallery:
    """People of one model, matched by cosine similarity of unit-norm embeddings.

    match_threshold: least cosine similarity between a tracklet and a person's closest exemplar
        for the tracklet to be that person.
    max_exemplars: appearance vectors kept per person (the most distinct ones).
    learn_threshold: least similarity of a matched tracklet for its appearance to become one of
        the person's exemplars (None: every tracklet teaches): a weaker match is counted, not
        learnt, so one doubtful match cannot widen a person until strangers match them.
    """

    def __init__(self, model_version: str, match_threshold: float, max_exemplars: int = 8,
                 learn_threshold: float | None = None) -> None:
        if not -1.0 <= match_threshold <= 1.0:
            raise ValueError(f"match_threshold must be a cosine similarity in [-1, 1], got {match_threshold}")
        if learn_threshold is not None and not match_threshold <= learn_threshold <= 1.0:
            raise ValueError(f"learn_threshold must be in [match_threshold, 1], "
                             f"got {learn_threshold}")
        if max_exemplars < 1:
            raise ValueError(f"max_exemplars must be >= 1, got {max_exemplars}")
        self.model_version = model_version
        self.match_threshold = match_threshold
        self.max_exemplars = max_exemplars
        self.learn_threshold = -1.0 if learn_threshold is None else learn_threshold
        self._people: dict[str, _Person] = {}
        self._changed: set[str] = set()
        # who ever learned from a tracklet (`add`), as against only `load`ed: what `_changed` is
        # in a gallery that folded a log without a `people()` call, so a state carries it
        self._learned: set[str] = set()

    def __len__(self) -> int:
        return len(self._people)

    @property
    def person_ids(self) -> list[str]:
        return list(self._people)

    def load(self, people: Iterable[Person]) -> None:
        """Add stored people (`vstream.store.analysis_rows.stored_people`)."""
        for p in people:
            if p.model_version != self.model_version:
                raise ValueError(f"person {p.person_id} belongs to model {p.model_version}, "
                                 f"not {self.model_version}")
            self._people[p.person_id] = _Person(
                np.array(p.exemplars, np.float32), p.tracklets, p.first_stream, p.first_s,
                p.last_stream, p.last_s, p.version)

    def identify(self, embeddings: np.ndarray, stream_id: str, t_s: float, *,
                 may_create: bool = True) -> str | None:
        """The person ID of a tracklet whose detections have `embeddings` (k, d); updates the
        person (or creates one when none matches and `may_create`). Zero rows (no appearance)
        are ignored; None when nothing is left or no person matches."""
        mean = tracklet_embedding(embeddings)
        if mean is None:
            return None
        person_id = self.match(mean)
        if person_id is None:
            if not may_create:
                return None
            person_id = self.next_id()
        self.add(person_id, mean, stream_id, t_s)
        return person_id

    def match(self, embedding: np.ndarray) -> str | None:
        """The person a tracklet's `embedding` (`tracklet_embedding`) is, if any reaches the
        threshold."""
        person_id, similarity = self.best_match(embedding)
        return person_id if person_id is not None and similarity >= self.match_threshold else None

    def add(self, person_id: str, embedding: np.ndarray, stream_id: str, t_s: float) -> None:
        """A tracklet of `person_id` (created if new) with `embedding` was seen on `stream_id`
        at `t_s`: the person learns its appearance."""
        person = self._people.get(person_id)
        if person is None:
            person = self._people[person_id] = _Person(embedding[None, :], 0, stream_id, t_s,
                                                       stream_id, t_s, 0)
        person.add(embedding, self.max_exemplars, self.learn_threshold)
        person.last_stream, person.last_s = stream_id, t_s
        self._changed.add(person_id)
        self._learned.add(person_id)

    def __contains__(self, person_id: object) -> bool:
        return person_id in self._people

    def best_match(self, embedding: np.ndarray) -> tuple[str | None, float]:
        """(person ID, cosine similarity) of the person with the most similar exemplar."""
        best, best_sim = None, -2.0
        for person_id, person in self._people.items():
            sim = float((person.exemplars @ embedding).max())
            if sim > best_sim:
                best, best_sim = person_id, sim
        return best, best_sim

    def people(self, changed_only: bool = True) -> list[Person]:
        """The people changed since the last call (or all), by number, to store."""
        ids = sorted(self._changed if changed_only else self._people, key=lambda p: int(p[1:]))
        self._changed.clear()
        return [self._people[i].snapshot(self.model_version, i) for i in ids]

    def state(self) -> dict:
        """The gallery as plain data (str, int, float, lists, NumPy arrays) for `load_state`:
        people in their order (which breaks ties in `best_match`), each one's exemplars as rows
        of one array."""
        people = list(self._people.items())
        return {"model_version": self.model_version, "max_exemplars": self.max_exemplars,
                "people": [[i, p.tracklets, p.first_stream, p.first_s, p.last_stream, p.last_s,
                            p.version] for i, p in people],
                "learned": sorted(self._learned),
                "exemplar_counts": np.array([len(p.exemplars) for _, p in people], np.int64),
                "exemplars": np.concatenate([p.exemplars for _, p in people]) if people
                else np.zeros((0, 0), np.float32)}

    def load_state(self, state: dict) -> None:
        """Become the gallery whose `state()` this is, as if it had folded the same records: the
        people who learned from a tracklet count as changed (a `people()` call since does not
        matter). Raises ValueError for another model or `max_exemplars` (which would fold the
        rest differently) or a malformed state; the gallery is then left as it was."""
        try:
            if (state["model_version"], state["max_exemplars"]) != (self.model_version,
                                                                    self.max_exemplars):
                raise ValueError(f"a gallery of {state['model_version']} with "
                                 f"{state['max_exemplars']} exemplars a person, not "
                                 f"{self.model_version} with {self.max_exemplars}")
            *exemplars, rest = np.split(np.asarray(state["exemplars"], np.float32),
                                        np.cumsum(state["exemplar_counts"]))
            if len(rest):
                raise ValueError(f"{len(rest)} exemplars of no one")
            people = {str(i): _Person(e, int(n), str(fs), float(ft), str(ls), float(lt), int(v))
                      for (i, n, fs, ft, ls, lt, v), e
                      in zip(state["people"], exemplars, strict=True)}
            learned = {str(i) for i in state["learned"]}
        except (KeyError, TypeError) as ex:
            raise ValueError(f"not a gallery state: {ex!r}") from ex
        self._people, self._learned, self._changed = people, learned, set(learned)

    def next_id(self) -> str:
        """The ID a new person gets: numbered after the highest one."""
        return f"p{1 + max((int(p[1:]) for p in self._people), default=0)}"


class _Person:
    def __init__(self, exemplars: np.ndarray, tracklets: int, first_stream: str, first_s: float,
                 last_stream: str, last_s: float, version: int) -> None:
        self.exemplars = exemplars
        self.tracklets, self.version = tracklets, version
        self.first_stream, self.first_s = first_stream, first_s
        self.last_stream, self.last_s = last_stream, last_s

    def add(self, embedding: np.ndarray, max_exemplars: int, learn_threshold: float) -> None:
        self.tracklets += 1
        self.version += 1
        similarity = float((self.exemplars @ embedding).max())
        if similarity >= _NOVELTY or similarity < learn_threshold:
            return
        self.exemplars = np.vstack([self.exemplars, embedding[None, :]])
        if len(self.exemplars) > max_exemplars:
            # drop the exemplar most similar to another: the set stays as varied as it can
            sim = self.exemplars @ self.exemplars.T
            np.fill_diagonal(sim, -2.0)
            self.exemplars = np.delete(self.exemplars, int(sim.max(axis=1).argmax()), axis=0)

    def snapshot(self, model_version: str, person_id: str) -> Person:
        return Person(model_version, person_id, self.exemplars.copy(), self.tracklets,
                      self.first_stream, self.first_s, self.last_stream, self.last_s, self.version)


def tracklet_embedding(embeddings: np.ndarray) -> np.ndarray | None:
    """The appearance of a tracklet whose detections have `embeddings` (k, d): the unit mean of
    its non-zero rows (a zero row has no appearance); None when none is left."""
    e = np.asarray(embeddings, np.float32)
    e = e[np.linalg.norm(e, axis=1) > 1e-6] if e.ndim == 2 else e[:0]
    return _unit(e.mean(axis=0)) if len(e) else None


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)
