"""`PeopleRegistry`: one people gallery for every worker, kept as a log on a Kafka topic.

Workers on different machines see the same people: one person must be one ID whichever worker
sees them, and no ID may name two people. The registry topic (`vstream.people`, one partition,
so one order) holds the people log of `vstream.track.people_log`: each worker appends a record
per tracklet it identifies and folds every record, its own included, in the topic's order.
The fold is the gallery; IDs are decided by the log, never by a worker alone:

- a tracklet that matches a person the worker has folded is theirs: a `seen` record is sent
  without waiting (the exemplar reaches every gallery, this one included, when read back);
- a tracklet that matches no one is sent as `new`, and the worker reads the log up to it before
  using an ID: if another worker entered the same person first, the log says so and both use
  that person's ID.

A worker killed after sending a `new` but before storing its rows replays the tracklet (its
batch was not committed): the log then holds the person, the replay matches them, and the rows
get the same ID. The log is kept for ever (retention -1): a worker that starts reads it from
the beginning, so its startup time grows with the people log (one short record per tracklet).
People stored before the registry existed (or by `vstream index`) enter the log as `known`
records when a worker starts (`seed`).

Used from one thread at a time (the worker's batch thread); a broker that does not answer within
`timeout_s` raises BrokerUnavailableError, and the worker stops with its batch unacked.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

import numpy as np

from vstream.kafka.clients import close_producer, kafka_consumer, kafka_producer
from vstream.kafka.errors import BrokerUnavailableError
from vstream.kafka.topics import PEOPLE_TOPIC, ensure_topics
from vstream.track.gallery import Person, tracklet_embedding
from vstream.track.people_log import NEW, SEEN, PeopleLog, PeopleRecord, PeopleRecordError

log = logging.getLogger(__name__)

#: how long a registry call waits for the broker before giving up
DEFAULT_TIMEOUT_S = 60.0
#: longest time the broker may hold a fetch of the registry open when it has no new record
FETCH_WAIT_MS = 10


class PeopleRegistry:
    """The people of `model_version` on the registry `topic` at `bootstrap`, matched with
    `match_threshold` (see the module docstring). A drop-in for `PeopleGallery` in the stages:
    `identify` and `people`."""

    def __init__(self, bootstrap: str, model_version: str, match_threshold: float, *,
                 topic: str = PEOPLE_TOPIC, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        from kafka import TopicPartition

        self.bootstrap, self.topic, self.timeout_s = bootstrap, topic, timeout_s
        self._log = PeopleLog(model_version, match_threshold)
        ensure_topics(bootstrap, [topic], partitions=1, configs={"retention.ms": "-1"})
        self._tp = TopicPartition(topic, 0)
        self._producer = kafka_producer(bootstrap, client_id="vstream-people", acks="all",
                                        linger_ms=0, max_block_ms=int(timeout_s * 1000))
        # A fetch the broker holds open for want of records delays the next read by as long
        # (kafka-python's default 500 ms: a `new` took 250 ms here): keep the wait short.
        self._consumer = kafka_consumer(bootstrap, client_id="vstream-people", group_id=None,
                                        enable_auto_commit=False,
                                        fetch_max_wait_ms=FETCH_WAIT_MS)
        self._consumer.assign([self._tp])
        self._consumer.seek_to_beginning(self._tp)
        self.sync()
        log.info("people registry %s: %d people of %s", topic, len(self._log.gallery),
                 model_version)

    @classmethod
    def open(cls, bootstrap: str, model_version: str, match_threshold: float, *,
             topic: str = PEOPLE_TOPIC, stored: Callable[[], Iterable[Person]]) -> PeopleRegistry:
        """The registry, with the people `stored()` returns (the store's, read when the log is
        folded) entered when the log lacks them (`seed`); closed again if that fails."""
        registry = cls(bootstrap, model_version, match_threshold, topic=topic)
        try:
            if registry.seed(stored()):
                log.info("people registry %s: stored people entered", topic)
        except BaseException:
            registry.close()
            raise
        return registry

    @property
    def model_version(self) -> str:
        return self._log.gallery.model_version

    @property
    def match_threshold(self) -> float:
        return self._log.gallery.match_threshold

    def __len__(self) -> int:
        return len(self._log.gallery)

    def seed(self, people: Iterable[Person]) -> int:
        """Enter the stored `people` the log does not have yet (`known` records); returns how
        many were sent. Workers starting together may both send one: the fold keeps the first."""
        sent = [self._send(PeopleRecord.of_person(p))
                for p in people if p.person_id not in self._log.gallery]
        if sent:
            self._fold_through(sent[-1])
        return len(sent)

    def identify(self, embeddings: np.ndarray, stream_id: str, t_s: float, *,
                 may_create: bool = True) -> str | None:
        """As `PeopleGallery.identify`, the ID decided by the log (see the module docstring)."""
        mean = tracklet_embedding(embeddings)
        if mean is None:
            return None
        self._fold_available()
        person = self._log.gallery.match(mean)
        if person is not None:
            self._send(PeopleRecord(SEEN, self.model_version, stream_id, t_s, mean,
                                    person=person), wait=False)
            return person
        if not may_create:
            return None
        offset = self._send(PeopleRecord(NEW, self.model_version, stream_id, t_s, mean,
                                         threshold=self.match_threshold))
        return self._fold_through(offset)

    def sync(self) -> None:
        """Fold the log up to its end as the broker says now (what every worker sent so far)."""
        self._producer.flush(timeout=self.timeout_s)
        end = self._consumer.end_offsets([self._tp])[self._tp]
        if end:
            self._fold_through(end - 1)

    def people(self, changed_only: bool = True) -> list[Person]:
        """The people changed since the last call (or all), by number, to store: every worker
        stores what it folded, so the `people` table follows the log."""
        self._fold_available()
        return self._log.gallery.people(changed_only)

    def close(self) -> None:
        """Send what is buffered (`seen` records: a broker that is gone loses them, which
        costs the gallery exemplars, never an ID), then close the clients."""
        from kafka.errors import KafkaError

        delivered = False
        try:
            self._producer.flush(timeout=self.timeout_s)
            delivered = True
        except KafkaError as ex:
            log.warning("people registry %s: seen records not sent (%s)", self.topic,
                        type(ex).__name__)
        finally:
            close_producer(self._producer, self.timeout_s, delivered)
            self._consumer.close()

    def _send(self, record: PeopleRecord, wait: bool = True) -> int | None:
        """Append `record`; return its offset once the broker has it (None: not waited for)."""
        from kafka.errors import KafkaError

        try:
            future = self._producer.send(self.topic, record.to_bytes(), partition=0)
            return future.get(timeout=self.timeout_s).offset if wait else None
        except KafkaError as ex:
            raise BrokerUnavailableError(
                f"people registry {self.topic} at {self.bootstrap}: not written within "
                f"{self.timeout_s:.0f} s ({type(ex).__name__})") from ex

    def _fold_available(self) -> None:
        """Fold the records already fetched, without waiting for more."""
        for records in self._consumer.poll(timeout_ms=0).values():
            for record in records:
                self._apply(record)

    def _fold_through(self, offset: int) -> str | None:
        """Fold the log up to and including `offset`; return what it decided there."""
        deadline = time.monotonic() + self.timeout_s
        decided = None
        while self._consumer.position(self._tp) <= offset:
            if time.monotonic() > deadline:
                raise BrokerUnavailableError(
                    f"people registry {self.topic} at {self.bootstrap}: offset {offset} not "
                    f"read within {self.timeout_s:.0f} s")
            for records in self._consumer.poll(timeout_ms=200).values():
                for record in records:
                    person = self._apply(record)
                    if record.offset == offset:
                        decided = person
        return decided

    def _apply(self, record) -> str | None:
        try:
            return self._log.apply(PeopleRecord.from_bytes(record.value))
        except PeopleRecordError as ex:  # every reader skips it alike: the fold stays one
            log.warning("people registry %s offset %d skipped: %s", self.topic, record.offset, ex)
            return None
