"""The faust adapter (vstream/kafka/faust_app.py): the release it was written against, that
every faust internal it overrides or reads is still there, and what each of its message-loss
workarounds does, with stand-ins for aiokafka and faust's recovery. A faust change that broke
one would otherwise show up only as lost messages in the slow SIGKILL tests.

The third workaround (taking each partition's offsets strictly in order) needs no faust
internals: tests/kafka/worker/test_ordering.py and test_ordered_consumer.py test it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import faust
import pytest
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.transport.drivers import aiokafka as faust_aiokafka

from vstream.errors import VStreamError
from vstream.kafka import faust_app


@pytest.mark.parametrize("version", ["0.15.0", "0.15.3", "0.15.10"])
def test_the_0_15_series_is_accepted(version: str) -> None:
    faust_app.check_faust_version(version)


@pytest.mark.parametrize("version", ["0.16.0", "0.14.9", "1.0.0", "0.1.5"])
def test_another_release_is_one_line_that_says_what_to_install(version: str) -> None:
    with pytest.raises(VStreamError, match=rf"needs faust-streaming 0\.15\.x .*found {version}: "
                                           r"pip install 'faust-streaming>=0.15,<0.16'"):
        faust_app.check_faust_version(version)


def test_the_installed_faust_is_the_one_the_adapter_was_written_for() -> None:
    assert faust.__version__.startswith(faust_app.FAUST_SERIES)


@pytest.mark.parametrize(
    ("owner", "name"),
    [
        (faust_aiokafka.AIOKafkaConsumerThread, "seek_to_committed"),
        (faust_aiokafka.AIOKafkaConsumerThread, "call_thread"),
        (faust_aiokafka.AIOKafkaConsumerThread, "_ensure_consumer"),
        (faust_aiokafka.AIOKafkaConsumerThread, "_create_worker_consumer"),
        (faust_aiokafka.Consumer, "_new_consumer_thread"),
        (faust_aiokafka.Transport, "Consumer"),
        (Recovery, "on_recovery_completed"),
        (Recovery, "_resume_streams"),
        (TableManager, "recovery"),
        (faust.App, "_new_transport"),
        (faust.Sensor, "on_commit_completed"),
        (faust_aiokafka.Consumer, "_add_gap"),
        (faust_aiokafka.Consumer, "_new_offset"),
        (faust_aiokafka.Consumer, "ack"),
    ],
)
def test_every_overridden_faust_hook_still_exists(owner: type, name: str) -> None:
    assert hasattr(owner, name), f"faust moved {owner.__name__}.{name}: see faust_app.py"


def test_the_apps_consumer_and_recovery_are_the_fixed_ones() -> None:
    app = faust_app.RewindingApp("adapter-test", rewind_topics=["t"], broker="kafka://127.0.0.1:1",
                                 store="memory://", web_enabled=False, autodiscover=False)
    assert isinstance(app.transport, faust_app._RewindingTransport)
    assert isinstance(app.tables.recovery, faust_app._ReseekingRecovery)
    consumer = app.consumer
    assert isinstance(consumer, faust_app._RewindingConsumer)
    assert dict(faust_app.committed_offsets(consumer)) == {}  # nothing committed yet
    # its fetches wait at most 300 ms: a broker that holds a fetch for its whole wait
    # must not delay a live chunk by faust's 1.5 s
    async def fetch_max_wait_ms() -> int:  # aiokafka makes its consumer inside a loop
        made = consumer._thread._create_worker_consumer(app.transport)
        await made.stop()  # never started: nothing but its client to close
        return made._fetch_max_wait_ms

    assert asyncio.run(fetch_max_wait_ms()) == faust_app.FETCH_MAX_WAIT_MS == 300
    consumer._thread.thread_loop.close()  # the consumer thread's loop, never started here


def test_last_fetch_times_reads_aiokafkas_poll_times_through_the_consumer_thread(
        app, monkeypatch) -> None:
    """`last_fetch_times`, the caught-up stop's reading of faust internals: aiokafka's
    `last_poll_timestamp` per partition, None for one revoked meanwhile (aiokafka asserts)."""
    import aiokafka
    from faust.types import TP

    assert hasattr(aiokafka.AIOKafkaConsumer, "last_poll_timestamp")
    mine, gone = TP("chunks", 0), TP("chunks", 1)

    class Polled:
        def last_poll_timestamp(self, tp) -> int:
            assert tp == mine, "Partition is not assigned"
            return 1234

    monkeypatch.setattr(app.consumer._thread, "_ensure_consumer", lambda: Polled())
    assert faust_app.last_fetch_times(app.consumer, [mine, gone]) == {mine: 1234, gone: None}


# -- the three message-loss workarounds, each directly --------------------------------------


@pytest.fixture
def app() -> Iterator[faust_app.RewindingApp]:
    app = faust_app.RewindingApp("adapter-test", rewind_topics=["chunks"],
                                 broker="kafka://127.0.0.1:1", store="memory://",
                                 web_enabled=False, autodiscover=False)
    yield app
    # asked for, the app and its consumer's thread make event loops; a started app closes them
    # when it stops, these never start
    thread = getattr(app.__dict__.get("_consumer"), "_thread", None)
    for loop in (getattr(thread, "thread_loop", None), app._loop):
        if loop is not None and not loop.is_closed():
            loop.close()


class FakeAiokafkaConsumer:
    """aiokafka's consumer as the rewinding seek uses it: committed offsets per partition."""

    def __init__(self, committed: dict, firsts: dict) -> None:
        self.committed, self.firsts = committed, firsts
        self.seeks: dict = {}

    async def seek_to_committed(self) -> dict:
        return dict(self.committed)

    async def beginning_offsets(self, partitions: list) -> dict:
        return {tp: self.firsts[tp] for tp in partitions}

    def seek(self, tp, offset: int) -> None:
        self.seeks[tp] = offset


def test_workaround_1_partitions_with_nothing_committed_are_sought_to_their_beginning(
        app, monkeypatch) -> None:
    """aiokafka's seek_to_committed leaves a partition with offset None or 0 where it is; the
    rewinding consumer seeks those of its source topics to their first offset."""
    from faust.types import TP

    fresh, zero, done, other = TP("chunks", 0), TP("chunks", 1), TP("chunks", 2), TP("log", 0)
    fake = FakeAiokafkaConsumer({fresh: None, zero: 0, done: 17, other: None},
                                {fresh: 5, zero: 0, done: 0, other: 3})
    thread = app.consumer._thread
    assert isinstance(thread, faust_app._RewindingConsumerThread)
    monkeypatch.setattr(thread, "_ensure_consumer", lambda: fake)
    committed = asyncio.run(thread._seek_to_committed_or_beginning())
    assert committed == fake.committed  # faust sees what aiokafka reported
    # only the chunk topic's uncommitted partitions; a topic not rewound is left to faust
    assert fake.seeks == {fresh: 5, zero: 0}


class SeekRecorder:
    def __init__(self, calls: list, assignment: set) -> None:
        self.calls, self._assignment = calls, assignment

    def assignment(self) -> set:
        return self._assignment

    async def perform_seek(self) -> None:
        self.calls.append("seek")


@pytest.mark.parametrize("hook", ["on_recovery_completed", "_resume_streams"])
@pytest.mark.parametrize(
    ("generation", "assignment", "expected"),
    [
        (7, {"chunks/0"}, ["faust's recovery clears the queues", "seek"]),
        (8, {"chunks/0"}, ["faust's recovery clears the queues"]),  # rebalancing again
        (7, set(), ["faust's recovery clears the queues"]),  # nothing assigned
    ],
)
def test_workaround_2_recovery_seeks_once_more_after_faust_clears_the_queues(
        app, monkeypatch, hook: str, generation: int, assignment: set, expected: list) -> None:
    """faust seeks to the committed offsets and only then clears the agents' queues: the
    reseeking recovery seeks again after its parent's hook returns (same generation only)."""
    calls: list = []

    async def faust_hook(self, generation_id: int = 0) -> None:
        calls.append("faust's recovery clears the queues")

    monkeypatch.setattr(Recovery, hook, faust_hook)
    recovery = app.tables.recovery
    monkeypatch.setattr(app, "consumer", SeekRecorder(calls, assignment))
    app.consumer_generation_id = 7
    asyncio.run(getattr(recovery, hook)(generation))
    assert calls == expected



def _ack(consumer, offset: int) -> None:
    """Ack the message at `offset` of chunks/0, as the worker's agent does once it is stored."""
    from faust.types import TP
    from faust.types.tuples import Message

    consumer.ack(Message("chunks", 0, offset, 0.0, 0, None, b"k", b"v", None, tp=TP("chunks", 0)))


def test_a_jump_faust_sees_in_a_partitions_offsets_is_not_committed(app) -> None:
    """faust's fetch loop calls `_add_gap` when a message's offset jumps past the last one it
    read: after a seek, a batch still in flight does that. faust itself would then commit the
    skipped offsets with the next ack (here 42: 33 messages never processed); the worker's
    consumer commits what was acked, and moves past a hole only when told (`skip_offsets`)."""
    from faust.types import TP

    consumer, tp = app.consumer, TP("chunks", 0)
    app.topics._acking_topics.add("chunks")  # as the worker's agent on the topic makes it
    asyncio.run(consumer._add_gap(tp, 9, 41))
    _ack(consumer, 8)
    assert consumer._new_offset(tp) == 9
    faust_app.skip_offsets(consumer, tp, 9, 40)  # the worker gave up waiting for 9-40
    _ack(consumer, 41)
    assert consumer._new_offset(tp) == 42
