"""Each partition's messages strictly in order: the third of faust 0.15's message losses.

faust seeks every partition back to its committed offset at each rebalance (and
`vstream.kafka.faust_app` seeks again after clearing its queues), so messages come a second time;
and its queue clears can drop messages without a seek, leaving a gap. `PartitionOrder` keeps,
per partition, the offset after the last message taken, and says of each message whether to take
it, drop it (processed already, or of a partition this worker no longer has), or seek the
partition back to the first missing message and wait for it (up to `REWIND_TIMEOUT_S`; after
that the gap is taken as a hole: deleted by retention, or not a message). It also says which
partitions still hold unprocessed messages when the topic seems idle (`behind`), and the
consumer lag, and whether nothing waits at all (`caught_up`). Pure: the caller does the seeks.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping

log = logging.getLogger(__name__)

#: how long a worker that sought back over a gap waits for the missing message
REWIND_TIMEOUT_S = 30.0


class Step(enum.Enum):
    """What to do with one message."""

    TAKE = "take"  # the partition's next message: process it
    DROP = "drop"  # not this worker's, processed already, or fetched before a seek took effect
    SEEK_BACK = "seek back"  # after a gap: seek the partition to `PartitionOrder.expected`


class PartitionOrder:
    """Per partition of `topic`, where the next message to process is (since the partition was
    assigned)."""

    def __init__(self, topic: str, rewind_timeout_s: float = REWIND_TIMEOUT_S) -> None:
        self.topic = topic
        self.rewind_timeout_s = rewind_timeout_s
        #: per partition, the offset after the last message taken to process
        self._next: dict[int, int] = {}
        #: partitions sought back over a gap, and until when the missing message may come
        self._seeking: dict[int, float] = {}
        #: partitions read again from below the committed offset (`rewind`): where the group
        #: stands there is the next message to process, whatever was committed
        self._rewound: set[int] = set()
        #: rewound partitions whose first message has not come yet, and when they were sought
        self._rewinding: dict[int, float] = {}

    def expected(self, partition: int) -> int | None:
        """The offset of the next message to process on `partition` (None: none taken yet)."""
        return self._next.get(partition)

    def step(self, partition: int, offset: int, assigned: set[int], now: float) -> Step:
        """What to do with the message at `partition`/`offset`, `assigned` being this worker's
        partitions and `now` the monotonic time. A message taken moves the partition on."""
        if partition not in assigned:
            return Step.DROP  # the new owner consumes it; its stream's state went with it
        expected = self._next.get(partition)
        if expected is not None and offset < expected:
            return Step.DROP  # fetched again after a seek: processed already
        if expected is not None and offset > expected:
            deadline = self._seeking.get(partition)
            if deadline is None:
                log.warning("%s/%d: messages %d-%d were skipped by the consumer: fetching "
                            "them again", self.topic, partition, expected, offset - 1)
                self._seeking[partition] = now + self.rewind_timeout_s
                return Step.SEEK_BACK
            if now < deadline:
                return Step.DROP  # fetched before the seek took effect
            log.warning("%s/%d: no message at offsets %d-%d after %.0f s; going on at %d",
                        self.topic, partition, expected, offset - 1, self.rewind_timeout_s,
                        offset)
        self._seeking.pop(partition, None)
        self._rewinding.pop(partition, None)
        self._next[partition] = offset + 1
        return Step.TAKE

    def rewind(self, partition: int, offset: int, now: float) -> None:
        """The caller seeks `partition` back to `offset` (`now`: the monotonic time) to process
        it again from there: messages from further on, fetched before the seek took effect, are
        dropped until `offset` comes (or the rewind timeout passes: then it is a hole)."""
        self._next[partition] = offset
        self._seeking[partition] = now + self.rewind_timeout_s
        self._rewound.add(partition)
        self._rewinding[partition] = now

    def seek_again(self, now: float, after_s: float) -> dict[int, int]:
        """Rewound partitions whose first message has not come `after_s` after the last seek
        (faust drops what a seek brings while its fetched messages from further on are still
        being delivered), with the offset to seek them to again; their seek time becomes `now`."""
        due = {p: self._next[p] for p, at in self._rewinding.items() if now - at >= after_s}
        for partition in due:
            self._rewinding[partition] = now
        return due

    def forget(self, partition: int) -> None:
        """`partition` was revoked: its position is the next owner's."""
        self._next.pop(partition, None)
        self._seeking.pop(partition, None)
        self._rewound.discard(partition)
        self._rewinding.pop(partition, None)

    def done(self, partition: int, committed: int | None) -> int:
        """Where the group stands on `partition`: the offset after the last message processed
        here, or the committed offset (`committed`, None: nothing committed) when further and
        the partition was not read again from below it (`rewind`)."""
        if partition in self._rewound:
            return self._next[partition]
        return max(self._next.get(partition, 0), committed or 0)

    def behind(self, ends: Mapping[int, int | None],
               committed: Mapping[int, int | None]) -> dict[int, int]:
        """Partitions whose end offset (`ends`, None: unknown) is past where the group stands:
        messages wait there that faust lost from its queues without a seek. Returns, per such
        partition, the offset to seek back to."""
        behind = {}
        for partition, end in ends.items():
            done = self.done(partition, committed.get(partition))
            if end is not None and end > done:
                behind[partition] = done
        return behind

    def lag(self, partition: int, end: int, committed: int | None) -> int:
        """Messages of `partition` after where the group stands, its end offset being `end`
        (not the fetch position: faust fetches ahead of what is processed)."""
        return max(0, end - self.done(partition, committed))

    def caught_up(self, ends: Mapping[int, int | None],
                  committed: Mapping[int, int | None]) -> bool:
        """Whether nothing waits on the partitions of `ends` (this worker's partitions, each with
        its end offset; None or negative: not known yet): each one's `lag` is 0. False for no
        partitions at all: a worker that the group has given nothing yet is not caught up, it
        has not started."""
        return bool(ends) and all(
            end is not None and end >= 0 and self.lag(partition, end, committed.get(partition)) == 0
            for partition, end in ends.items())
