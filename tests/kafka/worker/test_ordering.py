"""PartitionOrder: each partition's offsets strictly in order (the third of faust 0.15's
message losses: seeks deliver messages twice, queue clears leave gaps)."""

from __future__ import annotations

import pytest

from vstream.kafka.worker.ordering import PartitionOrder, Step


def steps(order: PartitionOrder, offsets: list[tuple[int, int]], assigned=frozenset({0, 1}),
          now: float = 0.0) -> list[Step]:
    return [order.step(partition, offset, set(assigned), now) for partition, offset in offsets]


def test_a_partitions_first_messages_are_taken_from_wherever_they_start() -> None:
    order = PartitionOrder("chunks")
    assert steps(order, [(0, 7), (0, 8), (1, 0)]) == [Step.TAKE] * 3
    assert (order.expected(0), order.expected(1)) == (9, 1)


def test_messages_delivered_again_after_a_seek_are_dropped() -> None:
    order = PartitionOrder("chunks")
    steps(order, [(0, 0), (0, 1), (0, 2)])
    assert steps(order, [(0, 1), (0, 2), (0, 3)]) == [Step.DROP, Step.DROP, Step.TAKE]


def test_a_partition_no_longer_assigned_is_dropped_and_does_not_move() -> None:
    order = PartitionOrder("chunks")
    assert steps(order, [(2, 0)]) == [Step.DROP]
    assert order.expected(2) is None


def test_a_gap_seeks_back_once_then_drops_until_the_missing_message_comes() -> None:
    order = PartitionOrder("chunks", rewind_timeout_s=30.0)
    steps(order, [(0, 0)])
    assert steps(order, [(0, 3)], now=100.0) == [Step.SEEK_BACK]
    assert order.expected(0) == 1  # where to seek to
    # fetched before the seek took effect: dropped, no second seek
    assert steps(order, [(0, 4)], now=101.0) == [Step.DROP]
    assert steps(order, [(0, 1), (0, 2), (0, 3)], now=102.0) == [Step.TAKE] * 3
    # the gap is closed: a later gap seeks again
    assert steps(order, [(0, 9)], now=103.0) == [Step.SEEK_BACK]


def test_a_gap_that_stays_past_the_timeout_is_a_hole_and_consuming_goes_on() -> None:
    order = PartitionOrder("chunks", rewind_timeout_s=30.0)
    steps(order, [(0, 0)])
    assert steps(order, [(0, 5)], now=100.0) == [Step.SEEK_BACK]
    assert steps(order, [(0, 5)], now=129.9) == [Step.DROP]
    assert steps(order, [(0, 5)], now=130.0) == [Step.TAKE]
    assert order.expected(0) == 6


def test_gaps_are_per_partition() -> None:
    order = PartitionOrder("chunks")
    steps(order, [(0, 0), (1, 0)])
    assert steps(order, [(0, 5), (1, 1)]) == [Step.SEEK_BACK, Step.TAKE]


def test_forget_starts_a_revoked_partition_afresh() -> None:
    order = PartitionOrder("chunks")
    steps(order, [(0, 0), (0, 4)], now=0.0)  # taken, then a gap being sought
    order.forget(0)
    assert order.expected(0) is None
    assert steps(order, [(0, 2)]) == [Step.TAKE]  # the new assignment starts where it starts


@pytest.mark.parametrize(
    ("taken", "end", "committed", "done", "lag"),
    [
        (None, 10, None, 0, 10),  # nothing here yet, nothing committed
        (None, 10, 4, 4, 6),  # the committed offset
        (5, 10, 3, 6, 4),  # processed past the commit
        (5, 10, 8, 8, 2),  # committed past what this worker processed (another one did)
        (9, 10, None, 10, 0),
        (9, 8, None, 10, 0),  # a stale end offset never makes a negative lag
    ],
)
def test_where_the_group_stands_and_the_lag(taken, end, committed, done, lag) -> None:
    order = PartitionOrder("chunks")
    if taken is not None:
        steps(order, [(0, taken)])
    assert order.done(0, committed) == done
    assert order.lag(0, end, committed) == lag


def test_behind_names_the_partitions_whose_messages_wait_and_where_to_seek() -> None:
    order = PartitionOrder("chunks")
    steps(order, [(0, 0), (0, 1), (1, 0), (2, 4)], assigned={0, 1, 2})
    ends = {0: 2, 1: 5, 2: None, 3: 7}
    committed = {0: None, 1: 0, 2: None, 3: 3}
    assert order.behind(ends, committed) == {1: 1, 3: 3}


@pytest.mark.parametrize(
    ("ends", "committed", "caught_up"),
    [
        ({0: 2, 1: 1}, {}, True),  # both processed to their ends
        ({0: 2, 1: 0, 2: 5}, {2: 5}, True),  # an empty partition; one that another worker did
        ({0: 2, 1: 2}, {}, False),  # partition 1 holds one more message
        ({0: 3}, {0: 2}, False),  # the commit is behind, and so is this worker
        ({0: 2, 1: None}, {}, False),  # no end offset known for partition 1 yet
        ({0: 2, 1: -1}, {}, False),  # an end offset the broker does not know yet
        ({}, {}, False),  # no partitions assigned: not started, so not caught up
        ({0: 1}, {}, True),  # a stale end offset below the position: nothing more is known
    ],
)
def test_caught_up_when_no_partition_lags(ends, committed, caught_up) -> None:
    order = PartitionOrder("chunks")
    steps(order, [(0, 0), (0, 1), (1, 0)])
    assert order.caught_up(ends, committed) is caught_up


def test_a_rewind_reads_the_partition_again_and_counts_as_behind_the_commit() -> None:
    order = PartitionOrder("chunks", rewind_timeout_s=30.0)
    steps(order, [(0, 20), (0, 21)])
    order.rewind(0, 12, now=100.0)  # a stream's chunks may sit at 12-19, never read here
    # fetched before the seek took effect: dropped quietly, no seek of its own
    assert steps(order, [(0, 22)], now=100.5) == [Step.DROP]
    assert order.lag(0, end=22, committed=22) == 10  # the commit went further: not caught up
    assert not order.caught_up({0: 22}, {0: 22})
    assert steps(order, [(0, o) for o in range(12, 22)], now=101.0) == [Step.TAKE] * 10
    assert order.caught_up({0: 22}, {0: 22})
    order.forget(0)
    assert order.done(0, committed=22) == 22


def test_a_rewind_whose_first_message_does_not_come_is_sought_again() -> None:
    order = PartitionOrder("chunks")
    steps(order, [(0, 20)])
    order.rewind(0, 12, now=100.0)
    assert order.seek_again(now=101.0, after_s=2.0) == {}
    assert order.seek_again(now=102.0, after_s=2.0) == {0: 12}
    assert order.seek_again(now=103.0, after_s=2.0) == {}  # sought at 102
    assert steps(order, [(0, 12)], now=103.5) == [Step.TAKE]
    assert order.seek_again(now=110.0, after_s=2.0) == {}  # it came
