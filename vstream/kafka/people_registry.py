"""`PeopleRegistry`: one people gallery for every worker, kept as a log on a Kafka topic.

Workers on different machines see the same people: one person must be one ID whichever worker
sees them, and no ID may name two people. The registry topic (`vstream.people`, one partition,
so one order) holds the people log of `vstream.track.people_log`: each worker appends a record
per tracklet it identifies and folds every record, its own included, in the topic's order.
The fold is the gallery; IDs are decided by the log, never by a worker alone:

- a tracklet that matches a person the worker has folded is theirs: a `seen` record is sent,
  and the worker folds the log up to it before going on, so its gallery learns the exemplar
  where the log puts it, as a one-process gallery learns it at once (when the record was not
  waited for, the next tracklet met a gallery with or without it, as the broker's timing fell:
  a worker killed and restarted gave a person another ID than `vstream index` did);
- a tracklet that matches no one is sent as `new`, and the worker reads the log up to it before
  using an ID: if another worker entered the same person first, the log says so and both use
  that person's ID.

A worker killed after sending a `new` but before storing its rows replays the tracklet (its
batch was not committed): the log then holds the person, the replay matches them, and the rows
get the same ID. The log is kept for ever (retention -1). So that a starting worker need not
fold all of it, workers write snapshots of their fold (`vstream.track.people_snapshot`) to a
compacted topic beside it (`vstream.people.snapshots`, key = model version) every
`snapshot_every` records: every worker folds the same log in the same order, so any may write
one. A worker starts from the newest snapshot of its model and folds the log from its offset on
(from the beginning when there is none, or it does not parse), so its start-up time grows with
the records since the last snapshot, not with the log. People stored before the registry existed
(or by `vstream index`) enter the log as `known` records when a worker starts (`seed`).

Used from one thread at a time (the worker's batch thread); a broker that does not answer within
`timeout_s` raises BrokerUnavailableError, and the worker stops with its batch unacked.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from vstream.kafka.clients import close_producer, kafka_consumer, kafka_producer
from vstream.kafka.errors import BrokerUnavailableError
from vstream.kafka.topics import PEOPLE_TOPIC, ensure_topics, people_snapshot_topic
from vstream.track.gallery import Person, tracklet_embedding
from vstream.track.people_log import NEW, SEEN, PeopleLog, PeopleRecord, PeopleRecordError
from vstream.track.people_snapshot import decode_snapshot, encode_snapshot

log = logging.getLogger(__name__)

#: how long a registry call waits for the broker before giving up
DEFAULT_TIMEOUT_S = 60.0
#: longest time the broker may hold a fetch of the registry open when it has no new record
FETCH_WAIT_MS = 10
#: log records a worker folds between two snapshots it writes (a snapshot of 1000 people with
#: 8 exemplars of 128 floats is about 4 MB)
SNAPSHOT_EVERY = 1000
#: largest snapshot written: the producer's and the snapshot topic's limit (Kafka's default,
#: 1 MB, is about 250 people); a larger one is not written and workers fold more of the log
SNAPSHOT_MAX_BYTES = 16 << 20


class PeopleRegistry:
    """The people of `model_version` on the registry `topic` at `bootstrap`, matched with
    `match_threshold` (see the module docstring). A drop-in for `PeopleGallery` in the stages:
    `identify` and `people`.

    It writes a snapshot every `snapshot_every` records it folds (0: never) and starts from the
    newest one when `use_snapshots`; `snapshot_offset` is the offset of the one it started from
    (None: it folded the log from the beginning)."""

    def __init__(self, bootstrap: str, model_version: str, match_threshold: float, *,
                 learn_threshold: float | None = None, topic: str = PEOPLE_TOPIC,
                 timeout_s: float = DEFAULT_TIMEOUT_S, snapshot_every: int = SNAPSHOT_EVERY,
                 use_snapshots: bool = True) -> None:
        from kafka import TopicPartition

        if snapshot_every < 0:
            raise ValueError(f"snapshot_every must be >= 0, got {snapshot_every}")
        self.bootstrap, self.topic, self.timeout_s = bootstrap, topic, timeout_s
        self.snapshot_topic, self.snapshot_every = people_snapshot_topic(topic), snapshot_every
        self._log = PeopleLog(model_version, match_threshold, learn_threshold)
        ensure_topics(bootstrap, [topic], partitions=1, configs={"retention.ms": "-1"})
        # Kafka never compacts the active segment (1 GB by default) and a starting worker reads
        # the snapshot topic whole: segments of one snapshot at most keep it a few snapshots long
        ensure_topics(bootstrap, [self.snapshot_topic], partitions=1,
                      configs={"cleanup.policy": "compact",
                               "max.message.bytes": str(SNAPSHOT_MAX_BYTES),
                               "segment.bytes": str(SNAPSHOT_MAX_BYTES)})
        self._tp = TopicPartition(topic, 0)
        self._producer = kafka_producer(bootstrap, client_id="vstream-people", acks="all",
                                        linger_ms=0, max_block_ms=int(timeout_s * 1000),
                                        max_request_size=SNAPSHOT_MAX_BYTES)
        # A fetch the broker holds open for want of records delays the next read by as long
        # (kafka-python's default 500 ms: a `new` took 250 ms here): keep the wait short.
        self._consumer = kafka_consumer(bootstrap, client_id="vstream-people", group_id=None,
                                        enable_auto_commit=False,
                                        fetch_max_wait_ms=FETCH_WAIT_MS)
        self._consumer.assign([self._tp])
        started = time.monotonic()
        self.snapshot_offset = self._load_snapshot() if use_snapshots else None
        start = "no snapshot" if self.snapshot_offset is None else \
            f"snapshot at offset {self.snapshot_offset} ({len(self._log.gallery)} people)"
        # the offset of the last snapshot read or written: the next is due `snapshot_every` on
        self._snapshot_base = self.snapshot_offset or 0
        self._consumer.seek(self._tp, self._snapshot_base)
        self.sync()
        log.info("people registry %s: %s, folded %d %srecords in %.2f s: %d people of %s",
                 topic, start, self._consumer.position(self._tp) - self._snapshot_base,
                 "" if self.snapshot_offset is None else "more ", time.monotonic() - started,
                 len(self._log.gallery), model_version)

    @classmethod
    def open(cls, bootstrap: str, model_version: str, match_threshold: float, *,
             learn_threshold: float | None = None, topic: str = PEOPLE_TOPIC,
             stored: Callable[[], Iterable[Person]]) -> PeopleRegistry:
        """The registry, with the people `stored()` returns (the store's, read when the log is
        folded) entered when the log lacks them (`seed`); closed again if that fails."""
        registry = cls(bootstrap, model_version, match_threshold,
                       learn_threshold=learn_threshold, topic=topic)
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
            self._fold_through(self._send(PeopleRecord(SEEN, self.model_version, stream_id, t_s,
                                                       mean, person=person)))
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
        """Send what is buffered (snapshots: a broker that is gone loses them, which costs a
        later worker a longer fold, never an ID), then close the clients."""
        from kafka.errors import KafkaError

        delivered = False
        try:
            self._producer.flush(timeout=self.timeout_s)
            delivered = True
        except KafkaError as ex:
            log.warning("people registry %s: snapshots not sent (%s)", self.topic,
                        type(ex).__name__)
        finally:
            close_producer(self._producer, self.timeout_s, delivered)
            self._consumer.close()

    def _send(self, record: PeopleRecord) -> int:
        """Append `record`; return its offset once the broker has it."""
        from kafka.errors import KafkaError

        try:
            future = self._producer.send(self.topic, record.to_bytes(), partition=0)
            return future.get(timeout=self.timeout_s).offset
        except KafkaError as ex:
            raise BrokerUnavailableError(
                f"people registry {self.topic} at {self.bootstrap}: not written within "
                f"{self.timeout_s:.0f} s ({type(ex).__name__})") from ex

    def _fold_available(self) -> None:
        """Fold the records already fetched, without waiting for more."""
        for records in self._consumer.poll(timeout_ms=0).values():
            for record in records:
                self._apply(record)
        self._snapshot_when_due()

    def _fold_through(self, offset: int) -> str | None:
        """Fold the log up to and including `offset`; return what it decided there."""
        decided = None
        for record in self._records_through(self._consumer, self._tp, offset):
            person = self._apply(record)
            if record.offset == offset:
                decided = person
        self._snapshot_when_due()
        return decided

    def _records_through(self, consumer, tp, offset: int) -> Iterator:
        """The records of `tp` from `consumer`'s position up to and including `offset`. Raises
        BrokerUnavailableError when they are not read within `timeout_s`."""
        deadline = time.monotonic() + self.timeout_s
        while consumer.position(tp) <= offset:
            if time.monotonic() > deadline:
                raise BrokerUnavailableError(
                    f"people registry {tp.topic} at {self.bootstrap}: offset {offset} not "
                    f"read within {self.timeout_s:.0f} s")
            for records in consumer.poll(timeout_ms=200).values():
                yield from records

    def _apply(self, record) -> str | None:
        try:
            return self._log.apply(PeopleRecord.from_bytes(record.value))
        except PeopleRecordError as ex:  # every reader skips it alike: the fold stays one
            log.warning("people registry %s offset %d skipped: %s", self.topic, record.offset, ex)
            return None

    def _load_snapshot(self) -> int | None:
        """Load the newest snapshot of this model into the fold; return its offset (None: none
        that fits the log, which is then folded from the beginning)."""
        from kafka import TopicPartition

        # read with the log's consumer, which is assigned the log again after: a consumer of
        # its own would wait 0.1 s more for its first metadata
        tp = TopicPartition(self.snapshot_topic, 0)
        self._consumer.assign([tp])
        self._consumer.seek_to_beginning(tp)
        newest = None  # the last of the model's key: the broker may not have compacted yet
        for record in self._records_through(self._consumer, tp,
                                            self._consumer.end_offsets([tp])[tp] - 1):
            if record.key == self.model_version.encode():
                newest = record
        self._consumer.assign([self._tp])
        if newest is None:
            return None
        try:
            offset, state = decode_snapshot(newest.value)
            # a snapshot past the log's end is of another log (one since recreated). Tansu's
            # ListOffsets answers the first offset of the last batch + 1, so there one written
            # after a batch of `seen` records may be skipped: slower, never wrong
            end = self._consumer.end_offsets([self._tp])[self._tp]
            if offset > end:
                raise ValueError(f"its log offset {offset} is past the log's end, {end}")
            self._log.gallery.load_state(state)
        except ValueError as ex:  # PeopleSnapshotError too: the log has it all, if more slowly
            log.warning("people registry %s: snapshot at %s offset %d skipped, the log is read "
                        "from the beginning: %s", self.topic, self.snapshot_topic, newest.offset,
                        ex)
            return None
        return offset

    def _snapshot_when_due(self) -> None:
        """Write a snapshot of the fold when `snapshot_every` records were folded since the last
        one read or written. Called where the fold is every record before the consumer's
        position. Best effort: a snapshot not written is a warning, the log still has it all."""
        from kafka.errors import KafkaError

        offset = self._consumer.position(self._tp)
        if not self.snapshot_every or offset - self._snapshot_base < self.snapshot_every:
            return
        self._snapshot_base = offset  # a failed one is tried again `snapshot_every` on, not now
        try:
            self._producer.send(self.snapshot_topic,
                                encode_snapshot(offset, self._log.gallery.state()),
                                key=self.model_version.encode(),
                                partition=0).get(timeout=self.timeout_s)
        except KafkaError as ex:
            log.warning("people registry %s: snapshot at offset %d not written (%s)",
                        self.topic, offset, ex)
