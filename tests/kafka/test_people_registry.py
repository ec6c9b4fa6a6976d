"""PeopleRegistry against a real broker (Tansu): workers that share the registry topic give one
person one ID and never one ID to two people, whichever of them sees whom first; a registry
started later folds the same gallery, from a snapshot as from the log's beginning; stored people
enter it once; a stray message, or a snapshot that does not parse, is skipped."""

from __future__ import annotations

import logging
import uuid

import numpy as np
import pytest

from vstream.kafka.clients import kafka_producer
from vstream.kafka.errors import BrokerUnavailableError
from vstream.kafka.people_registry import PeopleRegistry
from vstream.kafka.topics import people_snapshot_topic
from vstream.track.gallery import PeopleGallery, Person
from vstream.track.people_snapshot import encode_snapshot

pytestmark = pytest.mark.integration


def _looks(seed: int, people: int, dim: int = 128) -> np.ndarray:
    e = np.random.default_rng(seed).normal(size=(people, dim)).astype(np.float32)
    return e / np.linalg.norm(e, axis=1, keepdims=True)


def _tracklet(look: np.ndarray, seed: int, n: int = 4, noise: float = 0.03) -> np.ndarray:
    e = look + np.random.default_rng(seed).normal(scale=noise, size=(n, len(look)))
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


def _stored(registry: PeopleRegistry, changed_only: bool) -> list[tuple]:
    """Everything `registry.people` gives, exemplars as bytes."""
    return [(p.person_id, p.tracklets, p.first_stream, p.first_s, p.last_stream, p.last_s,
             p.version, p.exemplars.tobytes()) for p in registry.people(changed_only)]


def test_a_registry_started_from_a_snapshot_folds_what_one_from_the_beginning_does(
        kafka_broker, topic, caplog) -> None:
    caplog.set_level(logging.INFO, logger="vstream.kafka.people_registry")
    looks = _looks(5, 5)
    writer = PeopleRegistry(kafka_broker, "m", 0.8, topic=topic, snapshot_every=5)
    try:  # a stored person (who is not changed), 4 people entered, and seen 20 times, each
        # tracklet about 0.9 like the others of its person: people collect several exemplars
        writer.seed([Person("m", "p2", looks[4][None, :], 3, "old", 0.0, "old", 5.0, 3)])
        for k in range(24):
            writer.identify(_tracklet(looks[k % 4], k, noise=0.06), f"cam{k % 3}", 10.0 + k)
        writer.sync()
    finally:
        writer.close()
    late = PeopleRegistry(kafka_broker, "m", 0.8, topic=topic, snapshot_every=0,
                          use_snapshots=False)
    try:  # records after the last snapshot; the last one waited for, so it is a batch alone:
        # Tansu's ListOffsets (what `sync` reads) answers the last batch's first offset + 1
        assert [late.identify(_tracklet(looks[i], 30 + i, noise=0.06), "cam9", 40.0 + i)
                for i in (1, 3, 0)] == ["p4", "p6", "p3"]
        late.sync()
        assert late.identify(_tracklet(_looks(6, 1)[0], 33), "cam9", 44.0) == "p7"
    finally:
        late.close()
    from_snapshot = PeopleRegistry(kafka_broker, "m", 0.8, topic=topic, snapshot_every=0)
    whole = PeopleRegistry(kafka_broker, "m", 0.8, topic=topic, snapshot_every=0,
                           use_snapshots=False)
    try:
        assert whole.snapshot_offset is None
        assert 5 <= from_snapshot.snapshot_offset <= 25  # the log: 1 + 24 + 4 records
        assert f"{topic}: snapshot at offset {from_snapshot.snapshot_offset} (" in caplog.text
        assert _stored(from_snapshot, True) == _stored(whole, True)  # p2 is not stored again
        people = from_snapshot.people(False)
        assert [p.person_id for p in people] == [f"p{i}" for i in range(2, 8)]
        assert max(len(p.exemplars) for p in people) > 4
        assert _stored(from_snapshot, False) == _stored(whole, False)
        new = _tracklet(_looks(7, 1)[0], 34)
        assert from_snapshot.identify(new, "cam1", 50.0) == "p8"  # numbered after the same IDs
        assert whole.identify(new, "cam2", 50.0) == "p8"
        assert whole.identify(_tracklet(looks[2], 35), "cam2", 51.0) \
            == from_snapshot.identify(_tracklet(looks[2], 36), "cam1", 51.0) == "p5"
    finally:
        from_snapshot.close()
        whole.close()


@pytest.mark.parametrize(("snapshot", "error"), [
    (b"garbage", "not a people snapshot: starts b'garb'"),
    (encode_snapshot(1000, PeopleGallery("m", 0.8).state()),
     "its log offset 1000 is past the log's end, 3"),  # a snapshot of a log since recreated
])
def test_a_snapshot_that_does_not_fit_is_skipped_and_the_log_read_from_the_beginning(
        kafka_broker, topic, caplog, snapshot: bytes, error: str) -> None:
    a, b, c = _looks(7, 3)
    writer = PeopleRegistry(kafka_broker, "m", 0.8, topic=topic, snapshot_every=2)
    try:
        for k, look in enumerate((a, b, c)):
            writer.identify(_tracklet(look, k), "cam", float(k))
        before = _gallery(writer)
    finally:
        writer.close()
    producer = kafka_producer(kafka_broker, acks="all")
    producer.send(people_snapshot_topic(topic), snapshot, key=b"m", partition=0).get(timeout=30)
    producer.close()
    again = PeopleRegistry(kafka_broker, "m", 0.8, topic=topic)
    try:
        assert again.snapshot_offset is None
        assert f"skipped, the log is read from the beginning: {error}" in caplog.text
        assert _gallery(again) == before
        assert again.identify(_tracklet(b, 9), "cam", 9.0) == "p2"
    finally:
        again.close()


def test_a_broker_gone_away_is_one_error_line_not_a_hang(own_kafka_broker, topic) -> None:
    registry = PeopleRegistry(own_kafka_broker.bootstrap, "m", 0.8, topic=topic, timeout_s=2)
    own_kafka_broker.stop()
    with pytest.raises(BrokerUnavailableError,
                       match=rf"^people registry {topic} at .*: not written within 2 s"):
        registry.identify(_tracklet(_looks(4, 1)[0], 1), "cam", 1.0)
    registry.close()  # what was not sent is logged, not raised
