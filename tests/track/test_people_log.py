"""PeopleLog: the people gallery as the fold of an ordered log, the same in every reader."""

from __future__ import annotations

import numpy as np
import pytest

from vstream.track.gallery import Person
from vstream.track.people_log import KNOWN, NEW, SEEN, PeopleLog, PeopleRecord, PeopleRecordError


def _looks(seed: int, people: int, dim: int = 128) -> np.ndarray:
    e = np.random.default_rng(seed).normal(size=(people, dim)).astype(np.float32)
    return e / np.linalg.norm(e, axis=1, keepdims=True)


def _near(look: np.ndarray, seed: int, noise: float = 0.02) -> np.ndarray:
    e = look + np.random.default_rng(seed).normal(scale=noise, size=look.shape)
    return (e / np.linalg.norm(e)).astype(np.float32)


def _new(look: np.ndarray, model: str = "m", threshold: float = 0.8) -> PeopleRecord:
    return PeopleRecord(NEW, model, "cam", 1.0, look, threshold=threshold)


def _fold(records: list[PeopleRecord]) -> tuple[list[str | None], PeopleLog]:
    folded = PeopleLog("m", 0.8)
    return [folded.apply(PeopleRecord.from_bytes(r.to_bytes())) for r in records], folded


def test_two_workers_entering_one_person_at_once_get_the_first_ones_id() -> None:
    a, b = _looks(0, 2)
    # both workers saw `a` before either had read the other's record: two `new` records
    decided, _ = _fold([_new(a), _new(_near(a, 1)), _new(b), _new(_near(b, 2))])
    assert decided == ["p1", "p1", "p2", "p2"]


def test_every_reader_folds_the_same_gallery() -> None:
    a, b = _looks(1, 2)
    records = [_new(a), PeopleRecord(SEEN, "m", "cam2", 2.0, _near(a, 3), person="p1"),
               _new(b), _new(_near(a, 4))]
    (_, one), (_, two) = _fold(records), _fold(records)
    for x, y in zip(one.gallery.people(False), two.gallery.people(False), strict=True):
        assert (x.person_id, x.tracklets, x.version) == (y.person_id, y.tracklets, y.version)
        np.testing.assert_array_equal(x.exemplars, y.exemplars)
    assert [p.tracklets for p in one.gallery.people(False)] == [3, 1]


def test_a_new_record_is_decided_with_its_writers_threshold() -> None:
    a = _looks(2, 1)[0]
    far, other = _near(a, 5, noise=0.12), _near(a, 6, noise=0.12)  # cosine about 0.5 to `a`
    decided, _ = _fold([_new(a, threshold=0.99), _new(far, threshold=0.3),
                        _new(other, threshold=0.99)])
    assert decided == ["p1", "p1", "p2"]


def test_known_people_keep_their_ids_and_new_ones_are_numbered_after_them() -> None:
    a, b = _looks(3, 2)
    stored = Person("m", "p7", a[None, :], 4, "old", 0.0, "old", 9.0, 4)
    decided, folded = _fold([PeopleRecord.of_person(stored), PeopleRecord.of_person(stored),
                             _new(_near(a, 6)), _new(b)])
    assert decided == ["p7", "p7", "p7", "p8"]
    assert [p.person_id for p in folded.gallery.people(False)] == ["p7", "p8"]


def test_records_of_another_model_are_not_folded() -> None:
    decided, folded = _fold([_new(_looks(4, 1)[0], model="other")])
    assert decided == [None] and len(folded.gallery) == 0


@pytest.mark.parametrize("data", [b"", b"{}", b"[1]", b'{"kind": "seen", "model": "m", '
                                  b'"stream": "s", "t_s": 0, "threshold": 1, "person": "p1", '
                                  b'"tracklets": 0}'])
def test_bytes_that_are_not_a_record_say_so(data: bytes) -> None:
    with pytest.raises(PeopleRecordError, match="not a people record"):
        PeopleRecord.from_bytes(data)


def test_a_record_round_trips_its_vectors_exactly() -> None:
    stored = Person("m", "p2", _looks(5, 3), 3, "a", 1.5, "b", 2.5, 3)
    again = PeopleRecord.from_bytes(PeopleRecord.of_person(stored).to_bytes())
    assert (again.kind, again.person, again.tracklets, again.stream_id) == (KNOWN, "p2", 3, "a")
    np.testing.assert_array_equal(again.exemplars, stored.exemplars)
