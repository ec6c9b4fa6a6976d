"""CatchUp: the worker is caught up only on end offsets fetched after it first looked caught up
(an old high watermark, from before a broker outage, must not end a run)."""

from __future__ import annotations

from vstream.kafka.worker.catch_up import CatchUp


def test_caught_up_once_every_partition_has_a_newer_fetch() -> None:
    catch_up = CatchUp()
    assert catch_up.look(True, {0: 100, 1: 100}) is False  # the first look only starts the wait
    assert catch_up.look(True, {0: 100, 1: 100}) is False  # no newer fetch response yet
    assert catch_up.look(True, {0: 250, 1: 100}) is False  # partition 1's end offset is old
    assert catch_up.look(True, {0: 250, 1: 260}) is True


def test_a_look_that_is_not_caught_up_starts_the_wait_again() -> None:
    catch_up = CatchUp()
    catch_up.look(True, {0: 100})
    assert catch_up.look(False, {0: 200}) is False  # a fresh fetch found more messages
    assert catch_up.look(True, {0: 300}) is False  # caught up again: a first look
    assert catch_up.look(True, {0: 400}) is True


def test_no_partitions_or_no_fetch_yet_is_not_caught_up() -> None:
    catch_up = CatchUp()
    assert not catch_up.look(True, {})  # before the assignment
    assert not catch_up.look(True, {})
    catch_up.look(True, {0: None})
    assert catch_up.look(True, {0: None}) is False  # never fetched
    assert catch_up.look(True, {0: 5}) is True  # the first fetch came after the first look


def test_another_assignment_or_a_reset_starts_the_wait_again() -> None:
    catch_up = CatchUp()
    catch_up.look(True, {0: 100})
    assert catch_up.look(True, {0: 200, 1: 200}) is False  # partition 1 assigned meanwhile
    assert catch_up.look(True, {0: 300, 1: 300}) is True
    catch_up.reset()
    assert catch_up.look(True, {0: 400, 1: 400}) is False


def test_a_fetch_time_that_steps_back_is_still_a_newer_response() -> None:
    catch_up = CatchUp()
    catch_up.look(True, {0: 5_000})
    assert catch_up.look(True, {0: 4_000}) is True  # the wall clock was set back
