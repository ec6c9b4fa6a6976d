"""The faust-streaming app the worker runs, and what faust 0.15 needs fixed to lose nothing.

faust's recovery, at the end of every rebalance, clears the agents' queues (`FlowControlEvent
.resume`) and then seeks each partition back to its committed offset, so the cleared messages are
fetched again. aiokafka's `seek_to_committed` skips a partition whose committed offset is None
or 0 (nothing committed yet), so the messages fetched before the clear are gone: seen with the
test broker, a fresh topic lost 101 of its first 150 messages. `RewindingApp` seeks such
partitions of its source topics to their beginning instead, which is what
`auto_offset_reset=earliest` means for a group that committed nothing. Either seek can deliver
messages a second time (faust may deliver some before it): the worker takes each partition's
offsets strictly in order, dropping those it has processed and seeking back over gaps
(`vstream.kafka.worker.ordering.PartitionOrder`, the third workaround, which needs no faust
internals).

faust also commits past a jump in a partition's offsets as if the skipped messages were
processed; after a seek such a jump is a race, so `_RewindingConsumer` commits only what the
worker acked, and the holes it gives up on (`skip_offsets`).

`new_app` makes the worker's app with its settings (fetch and request sizes, commit interval,
session timeout, bounded stream buffer).

Every use of faust's private API lives in this module (the hooks below, `committed_offsets`,
`skip_offsets` and `last_fetch_times`); importing it checks the faust release they were written
against (`FAUST_SERIES`), and tests/kafka/test_faust_app.py checks that each hook still exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import faust
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.transport.drivers import aiokafka as faust_aiokafka

from vstream.errors import VStreamError

#: the faust-streaming release series whose internals this module overrides
FAUST_SERIES = "0.15."


def check_faust_version(version: str) -> None:
    """Raise VStreamError unless `version` is of `FAUST_SERIES`: the overrides below rely on
    faust internals, and a release that changed them would lose messages silently."""
    if not version.startswith(FAUST_SERIES):
        raise VStreamError(
            f"vstream's Kafka worker needs faust-streaming {FAUST_SERIES}x (it fixes message "
            f"losses inside faust, vstream/kafka/faust_app.py); found {version}: "
            f"pip install 'faust-streaming>=0.15,<0.16'")


check_faust_version(faust.__version__)


def committed_offsets(consumer: Any) -> Mapping[Any, int | None]:
    """The offsets faust last committed, per TopicPartition (faust 0.15 has no public
    accessor; None or absent where nothing was committed)."""
    return consumer._committed_offset


def last_fetch_times(consumer: Any, partitions: Iterable[Any]) -> dict[Any, int | None]:
    """When `consumer` (a faust Consumer) last had a fetch response for each of `partitions`
    (TopicPartitions): aiokafka's `last_poll_timestamp`, ms of the wall clock, also set by a
    response without messages; None where none came since the partition was assigned, or it is
    no longer assigned. faust 0.15 has no public accessor; like faust's `highwater`, this reads
    the aiokafka consumer from the event loop's thread."""
    client = consumer._thread._ensure_consumer()
    times: dict[Any, int | None] = {}
    for tp in partitions:
        try:
            times[tp] = client.last_poll_timestamp(tp)
        except (AssertionError, AttributeError):  # revoked meanwhile: aiokafka asserts
            times[tp] = None
    return times


class _RewindingConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        """faust's consumer, with a fetch that waits at most `FETCH_MAX_WAIT_MS` (faust fixes
        1500 ms). Kafka answers a waiting fetch as soon as a message arrives, but a broker
        that holds it for the whole wait (Tansu does: produce to fetch p50 / p95 0.39 /
        0.71 s at 1500 ms, 0.013 / 0.049 s at 100 ms) delays a live chunk by up to that. Not
        shorter: on Tansu the worker's catch-up throughput fell with the wait (`vstream bench
        kafka`, worker / index: 0.96 at 1500 ms, 0.91 at 300 and 500, 0.81-0.85 at 100)."""
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read by its fetcher at start()
        return consumer

    async def seek_to_committed(self) -> Any:
        return await self.call_thread(self._seek_to_committed_or_beginning)

    async def _seek_to_committed_or_beginning(self) -> Any:
        consumer = self._ensure_consumer()
        committed = await consumer.seek_to_committed()
        topics = getattr(self.app, "rewind_topics", frozenset())
        uncommitted = [tp for tp, offset in committed.items() if not offset and tp.topic in topics]
        if uncommitted:
            # An explicit offset, not seek_to_beginning: that leaves the position unset until
            # its reset completes, and faust's livelock detector asserts on an unset position.
            firsts = await consumer.beginning_offsets(uncommitted)
            for tp in uncommitted:
                consumer.seek(tp, firsts[tp])
        return committed


def skip_offsets(consumer: Any, tp: Any, first: int, last: int) -> None:
    """Let `consumer` (a `RewindingApp`'s) commit past offsets `first`..`last` of `tp`, which
    hold no message (a hole the worker gave up waiting for): once a later offset is acked, the
    commit moves over them (faust's gap list, which it no longer fills itself)."""
    consumer._gap[tp].addi(first, last + 1)
    consumer._gap[tp].merge_overlaps()


class _RewindingConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _RewindingConsumerThread:
        return _RewindingConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _add_gap(self, tp: Any, offset_from: int, offset_to: int) -> None:
        """faust's fetch loop calls this when a message's offset jumps past the last one it
        read, and then commits the skipped offsets as soon as an earlier one is acked, as if
        processed. Every seek moves faust's last read offset back while the batch in flight
        goes on, so after a seek the jump is a race, not a hole: offsets never processed get
        committed, and a worker whose committed offset reached the end counts as caught up (the
        likely cause of a restarted `--exit-when-caught-up` worker finishing its streams after
        one message, seen once in CI). The worker sees real gaps itself (`PartitionOrder`) and
        reports a hole it gives up on with `skip_offsets`."""


class _RewindingTransport(faust_aiokafka.Transport):
    Consumer = _RewindingConsumer


class _ReseekingRecovery(Recovery):
    """faust's recovery seeks the stream partitions to their committed offsets and only then
    clears the agents' queues (`flow_control.resume`), so what was fetched in between is lost
    (seen: 20 messages on a restart). Seek once more after the clear."""

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        await super().on_recovery_completed(generation_id)
        await self._seek_again(generation_id)

    async def _resume_streams(self, generation_id: int = 0) -> None:
        await super()._resume_streams(generation_id)
        await self._seek_again(generation_id)

    async def _seek_again(self, generation_id: int) -> None:
        consumer = self.app.consumer
        if self.app.consumer_generation_id == generation_id and consumer.assignment():
            await consumer.perform_seek()


class _TableManager(TableManager):
    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = _ReseekingRecovery(self.app, self, beacon=self.beacon,
                                                loop=self.loop)
        return self._recovery


class RewindingApp(faust.App):
    """A faust App whose source topics (`rewind_topics`) lose no message to a rebalance."""

    def __init__(self, id: str, *, rewind_topics: Iterable[str], **settings: Any) -> None:
        super().__init__(id, TableManager=_TableManager, **settings)
        self.rewind_topics = frozenset(rewind_topics)

    def _new_transport(self) -> faust_aiokafka.Transport:
        return _RewindingTransport(self.conf.broker_consumer, self)


# Settings of the worker's app (`new_app`).
#: bound of one fetch response per partition (one GOP is well under 1 MB, but allow big ones)
MAX_FETCH_BYTES = 16 * 1024 * 1024
#: largest produce request: a stream's state is ~1.3 MB with the fast detector's rings
MAX_REQUEST_BYTES = 64 * 1024 * 1024
#: longest wait of one fetch of the worker's consumer (see `_create_worker_consumer`)
FETCH_MAX_WAIT_MS = 300
#: how often faust commits the offsets of acked chunks
COMMIT_INTERVAL_S = 1.0
#: the group evicts a member that sent no heartbeat for this long (a SIGKILLed worker's
#: partitions move after it)
SESSION_TIMEOUT_S = 10.0


def new_app(group: str, bootstrap: str, topic: str, partitions: int, datadir: str,
            max_poll_records: int) -> RewindingApp:
    """The faust app of a worker of `group` on `topic` (`partitions` partitions) at
    `bootstrap`, taking batches of up to `max_poll_records` chunks."""
    return RewindingApp(
        group, rewind_topics=[topic],
        broker=[f"kafka://{host}" for host in bootstrap.split(",")], store="memory://",
        datadir=datadir, web_enabled=False, autodiscover=False,
        key_serializer="raw", value_serializer="raw", topic_partitions=partitions,
        topic_replication_factor=1, consumer_auto_offset_reset="earliest",
        broker_commit_interval=COMMIT_INTERVAL_S, broker_session_timeout=SESSION_TIMEOUT_S,
        broker_heartbeat_interval=1.0, broker_rebalance_timeout=2 * SESSION_TIMEOUT_S,
        consumer_max_fetch_size=MAX_FETCH_BYTES, producer_max_request_size=MAX_REQUEST_BYTES,
        # bounded memory: faust stops fetching once this many chunks wait for the agent
        stream_buffer_maxsize=2 * max_poll_records,
        # the loop must not pause for the table's periodic sweep
        table_cleanup_interval=3600.0,
        # Stopping or a rebalance must not wait for chunks this worker will not ack (those
        # after a store outage or a stop): they are replayed. A rebalance still waits for the
        # batch in flight, by taking the batch lock (`ChunkWorker._on_revoked`).
        stream_wait_empty=False,
    )


class CommitSensor(faust.Sensor):
    """Calls `on_commit()` each time faust has committed offsets."""

    def __init__(self, on_commit) -> None:
        super().__init__()
        self._on_commit = on_commit

    def on_commit_completed(self, consumer: Any, state: Any) -> None:
        self._on_commit()

