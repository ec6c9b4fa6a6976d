"""PendingSaves: states saved at most every interval, chunks acked only once a save covers them."""

from __future__ import annotations

from types import SimpleNamespace

from vstream.kafka.worker.state_saves import PendingSaves


def _state(stream_id: str, partition: int):
    return SimpleNamespace(stream_id=stream_id, partition=partition)


def _event(partition: int, offset: int):
    return SimpleNamespace(message=SimpleNamespace(partition=partition, offset=offset))


def test_events_are_acked_only_with_the_save_that_covers_them() -> None:
    pending = PendingSaves(interval_s=3600)
    a, b = _state("a", 0), _state("b", 1)
    first = [_event(0, 0)]
    pending.add([a], first)
    assert pending.due()  # never saved yet
    saved = []
    assert pending.save({0, 1}, saved.append) == first and saved == [a]
    pending.add([a, b], [_event(0, 1), _event(1, 0)])
    assert not pending.due()  # saved less than an interval ago: the events wait
    saved.clear()
    # partition 1 was revoked meanwhile: its state is not saved, its event not acked
    pending.forget({1})
    assert [e.message.partition for e in pending.save({0}, saved.append)] == [0]
    assert saved == [a]


def test_after_a_failed_batch_nothing_is_saved_or_acked_and_finishing_acks_all() -> None:
    pending = PendingSaves(interval_s=0)
    pending.add([_state("a", 0)], [_event(0, 0)])
    pending.failed = True
    saved = []
    assert pending.save({0}, saved.append) == [] and saved == []
    done = PendingSaves()
    done.add([_state("a", 0)], [_event(0, 0), _event(0, 1)])
    assert len(done.finished()) == 2 and not done.due()
