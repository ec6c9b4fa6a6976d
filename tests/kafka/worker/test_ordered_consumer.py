"""OrderedConsumer: what PartitionOrder decides, done on a (fake) faust consumer: events
dropped or kept, seeks back over a gap and to waiting messages, holes given up on, the lag
gauge, caught up."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass

from faust.types import TP
from intervaltree import IntervalTree

from vstream.kafka.worker.ordered_consumer import OrderedConsumer
from vstream.metrics import Metrics


@dataclass
class FakeEvent:
    message: object


class FakeConsumer:
    """The faust Consumer calls the worker makes: assignment, end and committed offsets, the
    times of the last fetch responses (through faust's consumer thread to aiokafka's consumer,
    here the same object), seek_wait."""

    def __init__(self, assignment: set, ends: dict, committed: dict) -> None:
        self._assignment, self.ends, self._committed_offset = assignment, ends, committed
        self.listed: dict = {}  # ListOffsets answers (absent: the fetch's end offset)
        self.fetched_at: dict = {}
        self.seeks: list[dict] = []
        self._gap: dict = defaultdict(IntervalTree)  # faust's offsets to commit past
        self._thread = self

    def _ensure_consumer(self) -> FakeConsumer:
        return self

    def assignment(self) -> set:
        return self._assignment

    def highwater(self, tp) -> int | None:
        return self.ends.get(tp)

    def last_poll_timestamp(self, tp) -> int | None:
        return self.fetched_at.get(tp)

    async def seek_wait(self, partitions: dict) -> None:
        self.seeks.append(dict(partitions))

    async def highwaters(self, *partitions) -> dict:
        return {tp: self.listed.get(tp, self.ends.get(tp)) for tp in partitions}


@dataclass
class FakeApp:
    consumer: FakeConsumer


def ordered(consumer: FakeConsumer) -> OrderedConsumer:
    ordered = OrderedConsumer("chunks", Metrics())
    ordered.app = FakeApp(consumer)
    return ordered


def test_events_are_kept_in_order_and_a_gap_is_sought_back(raw_message) -> None:
    consumer = FakeConsumer({TP("chunks", 0), TP("chunks", 1), TP("other", 2)}, {}, {})
    partitions = ordered(consumer)
    events = [FakeEvent(raw_message("chunks", p, o, b"a", b"")) for p, o in
              [(0, 0), (0, 1), (0, 0), (1, 4), (1, 7), (1, 8), (2, 0)]]
    kept = asyncio.run(partitions.in_order(events, now=0.0))
    assert [(e.message.partition, e.message.offset) for e in kept] == [(0, 0), (0, 1), (1, 4)]
    assert consumer.seeks == [{TP("chunks", 1): 5}]  # once, to the first missing message
    assert partitions.assigned() == {0, 1}
    assert not consumer._gap  # waiting for the sought message: nothing to commit past


def test_a_hole_given_up_on_is_the_only_gap_faust_may_commit_past(raw_message) -> None:
    p1 = TP("chunks", 1)
    consumer = FakeConsumer({p1}, {}, {})
    partitions = ordered(consumer)
    later = partitions.order.rewind_timeout_s + 1
    for offset, now in ((4, 0.0), (7, 0.0), (7, later), (8, later)):
        asyncio.run(partitions.in_order([FakeEvent(raw_message("chunks", 1, offset, b"a", b""))],
                                        now))
    assert sorted((i.begin, i.end) for i in consumer._gap[p1]) == [(5, 7)]  # offsets 5 and 6


def test_a_rewind_seeks_its_assigned_partitions_back(raw_message) -> None:
    p0, p1 = TP("chunks", 0), TP("chunks", 1)
    consumer = FakeConsumer({p0}, {p0: 30}, {p0: 30})
    partitions = ordered(consumer)
    asyncio.run(partitions.in_order([FakeEvent(raw_message("chunks", 0, 29, b"a", b""))], 0.0))
    asyncio.run(partitions.rewind({0: 12, 1: 3}, now=0.0))  # 1 was revoked meanwhile
    assert consumer.seeks == [{p0: 12}]
    assert partitions.order.expected(0) == 12 and partitions.order.expected(1) is None


def test_an_idle_worker_fetches_again_what_waits_past_its_position(raw_message) -> None:
    p0, p1, p2 = TP("chunks", 0), TP("chunks", 1), TP("chunks", 2)
    consumer = FakeConsumer({p0, p1, p2}, {p0: 3, p1: 9, p2: None}, {p0: 3, p1: 4})
    partitions = ordered(consumer)
    asyncio.run(partitions.in_order([FakeEvent(raw_message("chunks", 1, 5, b"a", b""))], 0.0))
    assert asyncio.run(partitions.fetch_behind()) is True
    assert consumer.seeks == [{p1: 6}]
    consumer.ends[p1] = 6
    assert asyncio.run(partitions.fetch_behind()) is False


def test_the_lag_gauge_is_set_per_partition_and_removed_on_revoke(raw_message) -> None:
    p0, p1 = TP("chunks", 0), TP("chunks", 1)
    consumer = FakeConsumer({p0, p1}, {p0: 10, p1: -1}, {p0: 4})
    partitions = ordered(consumer)
    partitions.update_lag()
    def lag(partition: str) -> float | None:  # None: no sample (Metrics.value says 0.0)
        return partitions.metrics.registry.get_sample_value(
            "vstream_consumer_lag", {"topic": "chunks", "partition": partition})

    assert lag("0") == 6
    assert lag("1") is None  # an end offset the broker does not know yet
    partitions.forget({0, 1})  # the one set is removed, the other was never there
    assert lag("0") is None


def test_caught_up_on_the_lag_gauges_offsets_fetched_after_the_first_look(raw_message) -> None:
    p0, p1 = TP("chunks", 0), TP("chunks", 1)
    consumer = FakeConsumer({p0, p1, TP("other", 0)}, {p0: 2, p1: 4}, {p1: 4})
    consumer.fetched_at = {p0: 1000, p1: 1000}
    partitions = ordered(consumer)
    assert asyncio.run(partitions.caught_up()) is False  # offsets 0-1 of partition 0 wait
    asyncio.run(partitions.in_order([FakeEvent(raw_message("chunks", 0, o, b"a", b""))
                                     for o in (0, 1)], 0.0))
    assert asyncio.run(partitions.caught_up()) is False  # the first look: those end offsets may be old
    consumer.fetched_at = {p0: 1500, p1: 1500}
    consumer.ends[p0] = 3  # a message came meanwhile: a newer fetch says so
    assert asyncio.run(partitions.caught_up()) is False
    asyncio.run(partitions.in_order([FakeEvent(raw_message("chunks", 0, 2, b"a", b""))], 0.0))
    assert asyncio.run(partitions.caught_up()) is False
    consumer.fetched_at = {p0: 3000, p1: 3000}
    assert asyncio.run(partitions.caught_up()) is True
    partitions.forget({1})  # a rebalance: the next assignment is looked at afresh
    consumer._assignment = {p0}
    assert asyncio.run(partitions.caught_up()) is False


def test_a_listoffsets_answer_past_the_fetched_end_offset_is_waited_for(raw_message) -> None:
    p0 = TP("chunks", 0)
    consumer = FakeConsumer({p0}, {p0: 1}, {})
    consumer.fetched_at = {p0: 1000}
    partitions = ordered(consumer)
    asyncio.run(partitions.in_order([FakeEvent(raw_message("chunks", 0, 0, b"a", b""))], 0.0))
    assert asyncio.run(partitions.caught_up()) is False  # the first look
    consumer.fetched_at = {p0: 2000}
    consumer.listed = {p0: 5}  # the fetches' end offset is stale: the broker lists 5
    assert asyncio.run(partitions.caught_up()) is False
    consumer.fetched_at = {p0: 3000}
    assert asyncio.run(partitions.caught_up()) is False  # the wait started again
    consumer.listed = {p0: 0}  # a stale ListOffsets answer (Tansu on S3) does not hold it back
    consumer.fetched_at = {p0: 4000}
    assert asyncio.run(partitions.caught_up()) is True


def test_no_partitions_is_not_caught_up() -> None:
    partitions = ordered(FakeConsumer(set(), {}, {}))
    assert asyncio.run(partitions.caught_up()) is False
    assert asyncio.run(partitions.caught_up()) is False
