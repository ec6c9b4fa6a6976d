"""The faust consumer of the chunk topic, made to deliver each partition in order.

`PartitionOrder` decides; this does what it decides on the consumer: drops and keeps the events
of a batch, seeks a partition back over a gap, fetches again what waits on a quiet partition,
reports the consumer lag, and says when nothing waits any more (`CatchUp`).
"""

from __future__ import annotations

import logging
from typing import Any

from faust.types import TP

from vstream.kafka.faust_app import committed_offsets, last_fetch_times, skip_offsets
from vstream.kafka.worker.catch_up import CatchUp
from vstream.kafka.worker.ordering import PartitionOrder, Step
from vstream.metrics import Metrics

log = logging.getLogger(__name__)


class OrderedConsumer:
    """Positions on the partitions of `topic` that the consumer of `app` (a faust App, set once
    it exists) is assigned; the lag goes to `metrics`."""

    def __init__(self, topic: str, metrics: Metrics) -> None:
        self.topic = topic
        self.metrics = metrics
        self.app: Any = None
        self.order = PartitionOrder(topic)
        self.catch_up = CatchUp()

    @property
    def consumer(self) -> Any:
        """The app's faust Consumer (looked up each time: faust makes it on first use)."""
        return self.app.consumer

    def assigned(self) -> set[int]:
        """The partitions of the topic the group gives this worker now."""
        return {tp.partition for tp in self.consumer.assignment() if tp.topic == self.topic}

    async def in_order(self, events: list, now: float) -> list:
        """The events of `events` (faust Events) to process now: each partition's next messages,
        in order. Over a gap the partition is sought back, on the consumer's thread (faust's
        `seek` calls aiokafka from this one, which its fetcher may undo)."""
        assigned = self.assigned()
        keep = []
        for event in events:
            partition, offset = event.message.partition, event.message.offset
            expected = self.order.expected(partition)
            step = self.order.step(partition, offset, assigned, now)
            if step is Step.SEEK_BACK:
                await self.consumer.seek_wait({TP(self.topic, partition): expected})
            elif step is Step.TAKE:
                if expected is not None and offset > expected:  # a hole, given up on
                    skip_offsets(self.consumer, TP(self.topic, partition), expected, offset - 1)
                keep.append(event)
        return keep

    async def rewind(self, offsets: dict[int, int], now: float) -> None:
        """Read partitions again from earlier offsets (`offsets`: partition -> offset; the
        admission found a stream's chunks may sit there unread)."""
        assigned = self.assigned()
        offsets = {p: o for p, o in offsets.items() if p in assigned}
        for partition, offset in offsets.items():
            self.order.rewind(partition, offset, now)
        if offsets:
            await self.consumer.seek_wait(
                {TP(self.topic, partition): offset for partition, offset in offsets.items()})

    async def seek_rewinds_again(self, now: float, after_s: float) -> None:
        """Seek again the rewound partitions whose first message did not come within `after_s`
        of their last seek (`PartitionOrder.seek_again`)."""
        due = self.order.seek_again(now, after_s)
        if due:
            log.info("%s: reading partitions %s again from %s", self.topic, sorted(due),
                     [due[p] for p in sorted(due)])
            await self.consumer.seek_wait(
                {TP(self.topic, partition): offset for partition, offset in due.items()})

    async def fetch_behind(self) -> bool:
        """Quiet, yet messages wait on a partition (its end offset is past what was processed):
        faust lost them from its queues without a seek. Seek those partitions back to the first
        message not processed; True when there were any. An idle worker only finishes its
        streams when nothing waits."""
        ends, committed = self._ends_and_commits()
        behind = self.order.behind(ends, committed)
        for partition, offset in behind.items():
            log.warning("%s/%d: no message for a while, but offsets %d-%d are there: fetching "
                        "them again", self.topic, partition, offset, ends[partition] - 1)
        if behind:
            await self.consumer.seek_wait(
                {TP(self.topic, partition): offset for partition, offset in behind.items()})
        return bool(behind)

    def update_lag(self) -> None:
        """Refresh the consumer lag gauge: per assigned partition, its end offset minus where
        the group stands (`PartitionOrder.lag`)."""
        ends, committed = self._ends_and_commits()
        for partition, end in ends.items():
            if end is None or end < 0:
                continue
            self.metrics.consumer_lag.labels(self.topic, str(partition)).set(
                self.order.lag(partition, end, committed[partition]))

    async def caught_up(self) -> bool:
        """Whether every message on this worker's partitions is processed, the end offsets being
        those of fetch responses newer than an earlier call that found the same (`CatchUp`;
        False for no partitions), and no lower than the broker's answer to a ListOffsets request
        made then: either can be stale (a fetcher that stopped; Tansu on S3 storage answers
        ListOffsets with an old end), a stale one is lower, and the higher of the two can only
        make the worker wait longer. Call it between batches: messages taken by the batch in
        flight count as processed."""
        mine = self._mine()
        # The fetch times before the end offsets: a time seen new vouches for its end offset.
        fetched_at = last_fetch_times(self.consumer, mine)
        ends, committed = self._ends_and_commits(mine)
        if not self.catch_up.look(self.order.caught_up(ends, committed),
                                  {tp.partition: at for tp, at in fetched_at.items()}):
            return False
        listed = await self.consumer.highwaters(*mine)
        ends = {tp.partition: max(ends[tp.partition], listed.get(tp, -1)) for tp in mine}
        if self.order.caught_up(ends, committed):
            return True
        self.catch_up.reset()
        return False

    def forget(self, partitions: set[int]) -> None:
        """`partitions` were revoked: their positions and lag are the new owner's."""
        self.catch_up.reset()
        for partition in partitions:
            self.order.forget(partition)
            try:
                self.metrics.consumer_lag.remove(self.topic, str(partition))
            except KeyError:
                pass

    def _mine(self) -> list:
        """The assigned TopicPartitions of the topic."""
        return [tp for tp in list(self.consumer.assignment()) if tp.topic == self.topic]

    def _ends_and_commits(self, mine: list | None = None
                          ) -> tuple[dict[int, int | None], dict[int, int | None]]:
        """Per assigned partition of the topic (`mine`: those TopicPartitions, read now when
        None): its end offset (the high watermark of its last fetch response) and its committed
        offset."""
        committed = committed_offsets(self.consumer)
        mine = self._mine() if mine is None else mine
        return ({tp.partition: self.consumer.highwater(tp) for tp in mine},
                {tp.partition: committed.get(tp) for tp in mine})
