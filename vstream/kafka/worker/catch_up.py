"""When a worker has processed everything on its partitions: the state `run(until_caught_up=True)`
stops on. Pure: the caller reads the offsets and the fetch times off the consumer.

Caught up means, for each partition the group gave the worker, that where it stands (the offset
after the last message it processed, or the group's committed offset when further: as the
`vstream_consumer_lag` gauge counts) has reached the partition's end offset, with no batch in
flight. A worker with no partitions yet is not caught up, nor one whose consumer has not fetched
from each of them. Producers may go on writing: a message that reaches the broker after the
second look below is left to the next run (its offset is not committed), and its stream, finished
here, starts again there as after an idle exit.

"Everything" is what the partitions held when the worker looked, as the broker said in a fetch
response. Each fetch response carries the partition's high watermark (its end offset), and the
consumer keeps the last one with the time it came (aiokafka's `highwater` and
`last_poll_timestamp`); the consumer lag gauge reads the same end offsets. A high watermark can
be old: the fetcher may have stopped (a broker outage, a paused partition) while producers went
on. So one look is not enough: `CatchUp` waits, once every partition looks caught up, for a fetch
response of every partition that came after that look, and decides on those fresher end offsets
(an idle consumer long-polls each partition, so one comes within faust's fetch wait, 1.5 s).

Not the broker's ListOffsets answer: Tansu on S3 storage answers it with a stale end offset
(seen: 48 of 100 messages), while its fetch responses carry the right one.
"""

from __future__ import annotations

from collections.abc import Mapping


class CatchUp:
    """Two looks at a worker's partitions, the second on fetch responses newer than the first.

    Each look (`look`) passes `caught_up`, `PartitionOrder.caught_up` on the end offsets of the
    last fetch responses, and `fetched_at`: per assigned partition, when its last fetch response
    came (None: none since it was assigned). A fetch time that differs from the first look's is
    a newer response: aiokafka stamps them with the wall clock, which may step back, so no order
    is read into them (two responses in one millisecond look like one: a wait for the next)."""

    def __init__(self) -> None:
        #: per partition, the fetch time seen when the partitions first looked caught up
        self._first: dict[int, int | None] | None = None

    def look(self, caught_up: bool, fetched_at: Mapping[int, int | None]) -> bool:
        """True when the worker is caught up: `caught_up` holds now, held at an earlier look
        with the same partitions, and every partition has had a fetch response since that
        look, so the end offsets `caught_up` was decided on are newer than it.

        `fetched_at` must be read before the end offsets that `caught_up` was decided on: the
        consumer sets a partition's end offset before its fetch time, so a fetch time seen new
        vouches for an end offset at least as new. Any look that is not caught up (a message
        came, a partition was assigned or revoked) starts the wait again."""
        if not caught_up or not fetched_at:
            self._first = None
            return False
        if self._first is None or self._first.keys() != fetched_at.keys():
            self._first = dict(fetched_at)
            return False
        return all(at is not None and at != self._first[partition]
                   for partition, at in fetched_at.items())

    def reset(self) -> None:
        """Forget the first look (the partitions were revoked: a new assignment starts over)."""
        self._first = None
