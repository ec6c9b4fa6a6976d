"""PeopleRegistry against a real broker (Tansu): workers that share the registry topic give one
person one ID and never one ID to two people, whichever of them sees whom first; a registry
started later folds the same gallery; stored people enter it once; a stray message is skipped."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from vstream.kafka.clients import kafka_producer
from vstream.kafka.errors import BrokerUnavailableError
from vstream.kafka.people_registry import PeopleRegistry
from vstream.track.gallery import Person

pytestmark = pytest.mark.integration


def _looks(seed: int, people: int, dim: int = 128) -> np.ndarray:
    e = np.random.default_rng(seed).normal(size=(people, dim)).astype(np.float32)
    return e / np.linalg.norm(e, axis=1, keepdims=True)


def _tracklet(look: np.ndarray, seed: int, n: int = 4) -> np.ndarray:
    e = look + np.random.default_rng(seed).normal(scale=0.03, size=(n, len(look)))
    return e / np.linalg.norm(e, axis=1, keepdims=True)


def _gallery(registry: PeopleRegistry) -> list[tuple]:
    """The people `registry` folded, once the log's end (as the broker has it now) is read."""
    registry.sync()
    return [(p.person_id, p.tracklets, p.exemplars.tobytes()) for p in registry.people(False)]


@pytest.fixture
def topic() -> str:
    return f"test.people.{uuid.uuid4().hex[:8]}"


def test_two_workers_give_one_person_one_id_and_each_person_their_own(kafka_broker, topic) -> None:
    a, b, c = _looks(0, 3)
    one = PeopleRegistry(kafka_broker, "m", 0.8, topic=topic)
    two = PeopleRegistry(kafka_broker, "m", 0.8, topic=topic)
    try:
        seen = [one.identify(_tracklet(a, 1), "cam1", 1.0),
                two.identify(_tracklet(a, 2), "cam2", 1.5),  # the same person, another worker
                two.identify(_tracklet(b, 3), "cam2", 2.0),
                one.identify(_tracklet(b, 4), "cam1", 2.5),
                one.identify(_tracklet(c, 5), "cam1", 3.0),
                two.identify(_tracklet(a, 6), "cam2", 3.5)]
        assert seen == ["p1", "p1", "p2", "p2", "p3", "p1"]
        assert two.identify(np.zeros((2, 128)), "cam2", 4.0) is None  # no appearance
        assert two.identify(_tracklet(_looks(9, 1)[0], 7), "cam2", 4.0, may_create=False) is None
        two.sync()  # its `seen` records are sent without a wait: on the broker now
        assert _gallery(one) == _gallery(two)  # one gallery, learned from both workers
        assert [t for _, t, _ in _gallery(one)] == [3, 2, 1]
        stored = {p.person_id: p.last_stream for p in one.people(False)}
        assert stored == {"p1": "cam2", "p2": "cam1", "p3": "cam1"}
    finally:
        one.close()
        two.close()


def test_a_registry_started_later_folds_the_same_people(kafka_broker, topic) -> None:
    a, b = _looks(1, 2)
    first = PeopleRegistry(kafka_broker, "m", 0.8, topic=topic)
    try:
        first.identify(_tracklet(a, 1), "cam1", 1.0)
        first.identify(_tracklet(b, 2), "cam1", 2.0)
        first.identify(_tracklet(a, 3), "cam1", 3.0)
        before = _gallery(first)
    finally:
        first.close()  # a worker stops (or is killed after its records reached the broker)
    again = PeopleRegistry(kafka_broker, "m", 0.8, topic=topic)
    other_model = PeopleRegistry(kafka_broker, "other", 0.8, topic=topic)
    try:
        assert _gallery(again) == before
        assert again.identify(_tracklet(b, 4), "cam2", 4.0) == "p2"
        assert len(other_model) == 0  # the same topic holds each model's people apart
        assert other_model.identify(_tracklet(b, 5), "cam2", 4.0) == "p1"
    finally:
        again.close()
        other_model.close()


def test_stored_people_enter_the_log_once_and_new_ids_follow_them(kafka_broker, topic) -> None:
    a, b = _looks(2, 2)
    stored = [Person("m", "p4", a[None, :], 2, "old", 0.0, "old", 5.0, 2)]
    one = PeopleRegistry(kafka_broker, "m", 0.8, topic=topic)
    two = PeopleRegistry(kafka_broker, "m", 0.8, topic=topic)
    try:
        assert one.seed(stored) == 1
        two.sync()
        assert two.seed(stored) == 0  # it folded the first worker's record
        assert two.identify(_tracklet(a, 1), "cam", 6.0) == "p4"
        assert one.identify(_tracklet(b, 2), "cam", 7.0) == "p5"
    finally:
        one.close()
        two.close()


def test_a_message_that_is_not_a_record_is_skipped_by_every_reader(kafka_broker, topic,
                                                                  caplog) -> None:
    a = _looks(3, 1)[0]
    one = PeopleRegistry(kafka_broker, "m", 0.8, topic=topic)
    try:
        producer = kafka_producer(kafka_broker, acks="all")
        producer.send(topic, b"not json", partition=0).get(timeout=30)
        producer.close()
        assert one.identify(_tracklet(a, 1), "cam", 1.0) == "p1"
        assert "offset 0 skipped: not a people record" in caplog.text
    finally:
        one.close()


def test_a_broker_gone_away_is_one_error_line_not_a_hang(own_kafka_broker, topic) -> None:
    registry = PeopleRegistry(own_kafka_broker.bootstrap, "m", 0.8, topic=topic, timeout_s=2)
    own_kafka_broker.stop()
    with pytest.raises(BrokerUnavailableError,
                       match=rf"^people registry {topic} at .*: not written within 2 s"):
        registry.identify(_tracklet(_looks(4, 1)[0], 1), "cam", 1.0)
    registry.close()  # what was not sent is logged, not raised
