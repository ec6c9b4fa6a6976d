"""PeopleGallery: one ID per person across tracklets, persisted and reloaded."""

from __future__ import annotations

import numpy as np
import pytest

from vstream.track.gallery import PeopleGallery


def _looks(rng: np.random.Generator, people: int, dim: int = 128) -> np.ndarray:
    e = rng.normal(size=(people, dim))
    return e / np.linalg.norm(e, axis=1, keepdims=True)


def _tracklet(rng, centre: np.ndarray, n: int = 5, noise: float = 0.05) -> np.ndarray:
    e = centre + rng.normal(scale=noise, size=(n, len(centre)))
    return e / np.linalg.norm(e, axis=1, keepdims=True)


def test_same_person_keeps_one_id_and_different_people_get_new_ones() -> None:
    rng = np.random.default_rng(0)
    a, b = _looks(rng, 2)
    g = PeopleGallery("m", match_threshold=0.6)
    ids = [g.identify(_tracklet(rng, c), "s", float(i)) for i, c in enumerate([a, b, a, a, b])]
    assert ids == ["p1", "p2", "p1", "p1", "p2"]


def test_two_looks_of_one_person_join_through_an_intermediate_tracklet() -> None:
    # sunglasses on / off: each look is far from the other, but a tracklet between them links
    # them, and the person then keeps both looks as exemplars
    rng = np.random.default_rng(1)
    base, glasses = _looks(rng, 2)
    middle = (base + glasses) / np.linalg.norm(base + glasses)
    g = PeopleGallery("m", match_threshold=0.65)
    ids = [g.identify(_tracklet(rng, c, noise=0.01), "s", 0.0) for c in (base, middle, glasses, base, glasses)]
    assert ids == ["p1"] * 5 and len(g) == 1


def test_a_doubtful_match_is_that_person_but_does_not_teach_the_gallery() -> None:
    """Below `learn_threshold` a tracklet is counted as the person it matched, not learnt: else a
    stranger who looks like that doubtful tracklet would be the person too (on the test video
    the bartender became one of the singer's looks, and a male dancer then matched it)."""
    face, stranger = np.eye(3, dtype=np.float32)[:2]
    doubtful = np.array([0.4, np.sqrt(1 - 0.4 ** 2), 0.0], np.float32)  # cosine 0.4 to the face
    confident = np.array([0.6, 0.8, 0.0], np.float32)  # 0.6
    g = PeopleGallery("m", match_threshold=0.363, learn_threshold=0.5)
    assert [g.identify(e[None], "s", 0.0) for e in (face, doubtful)] == ["p1", "p1"]
    assert g.people(changed_only=False)[0].tracklets == 2
    assert g.identify(stranger[None], "s", 1.0) == "p2"  # 0.92 to the doubtful look, 0 to the face
    learning = PeopleGallery("m", match_threshold=0.363, learn_threshold=0.5)
    assert [learning.identify(e[None], "s", 0.0) for e in (face, confident, stranger)] == ["p1"] * 3


def test_zero_embeddings_and_may_create() -> None:
    rng = np.random.default_rng(2)
    g = PeopleGallery("m", 0.6)
    assert g.identify(np.zeros((3, 128)), "s", 0.0) is None
    assert g.identify(_tracklet(rng, _looks(rng, 1)[0]), "s", 0.0, may_create=False) is None
    assert len(g) == 0


def test_gallery_round_trips_through_its_people_and_reidentifies() -> None:
    rng = np.random.default_rng(3)
    a, b = _looks(rng, 2)
    first = PeopleGallery("m", 0.6)
    first.identify(_tracklet(rng, a), "cam1", 1.0)
    first.identify(_tracklet(rng, b), "cam1", 2.0)
    people = first.people()
    assert [p.person_id for p in people] == ["p1", "p2"] and first.people() == []  # only changes
    again = PeopleGallery("m", 0.6)
    again.load(people)
    assert again.identify(_tracklet(rng, b), "cam2", 5.0) == "p2"
    assert again.identify(_tracklet(rng, _looks(rng, 1)[0]), "cam2", 6.0) == "p3"
    [p2] = [p for p in again.people() if p.person_id == "p2"]
    assert (p2.first_stream, p2.last_stream, p2.tracklets) == ("cam1", "cam2", 2)
    with pytest.raises(ValueError, match="belongs to model"):
        PeopleGallery("other", 0.6).load(people)


def test_exemplars_are_bounded() -> None:
    rng = np.random.default_rng(4)
    centre = _looks(rng, 1)[0]
    g = PeopleGallery("m", match_threshold=-1.0, max_exemplars=3)
    for _ in range(20):
        g.identify(_tracklet(rng, centre, noise=0.3), "s", 0.0)
    [person] = g.people()
    assert len(person.exemplars) == 3 and person.tracklets == 20
