"""`ChunkWorker`: the faust wiring of the Kafka driver (the app, its agent, its state table, the
rebalance callbacks, commits); the work on the chunks is `BatchProcessor`'s, the partitions'
order `OrderedConsumer`'s. The package docstring (`vstream.kafka.worker`) says what the worker
guarantees and how.
"""

from __future__ import annotations

import asyncio
import logging
import math
import tempfile
import threading
import time
from typing import Any

from vstream.detect.analysis import identity_version
from vstream.detect.models import DEFAULT_MODEL, learn_threshold, load_frame_model, match_threshold
from vstream.kafka.events import EventPublisher
from vstream.kafka.faust_app import MAX_FETCH_BYTES, CommitSensor, RewindingApp, new_app
from vstream.kafka.people_registry import PeopleRegistry
from vstream.kafka.topics import EVENTS_TOPIC, PEOPLE_TOPIC, dlq_topic, topic_partitions
from vstream.kafka.worker.batch_processor import BatchProcessor
from vstream.kafka.worker.dead_letters import DeadLetterSink
from vstream.kafka.worker.ordered_consumer import OrderedConsumer
from vstream.kafka.worker.stage_settings import StageSettings
from vstream.kafka.worker.state_saves import PendingSaves
from vstream.kafka.worker.stats import WorkerStats
from vstream.kafka.worker.store_retry import StopRequested, StoreRetry
from vstream.kafka.worker.stream_state import StreamState, state_table
from vstream.metrics import Metrics
from vstream.store.analysis_rows import stored_people
from vstream.stream.stages import (
    DEFAULT_ANALYSIS_FPS, DEFAULT_MAX_SCENE_S, row_version,
)
from vstream.track.presence import DEFAULT_LEAVE_AFTER_S, DEFAULT_LEAVE_HIDDEN_S

log = logging.getLogger(__name__)

DEFAULT_GROUP = "vstream-workers"
#: seconds a batch waits for more chunks once the one before is done: short, because a live
#: camera's chunk waits that long before its events can be written (0.5 s was a third of the
#: capture-to-event latency). Busy workers batch anyway: what arrived while the batch before
#: ran is taken at once, up to `max_poll_records`.
POLL_TIMEOUT_S = 0.05
#: how often the consumer lag gauge is refreshed
LAG_INTERVAL_S = 2.0
#: a worker waiting to be caught up that got no message for this long, while its partitions'
#: end offsets say messages wait, fetches them again (faust can lose them from its queues).
#: Only when the refetch happens depends on it, never what is processed.
REFETCH_AFTER_S = 10.0
#: a partition read again over a gap (`admission.Rewind`) whose first message did not come
#: this long after the seek is sought again (faust drops what a seek brings while it still
#: delivers messages fetched before it)
RESEEK_AFTER_S = 2.0


class ChunkWorker:
    """Consumes the chunk topic in a consumer group and stores each stream's scenes.

    `store` is a `vstream.store.ClickHouseWriter` (see `open_store`). `shots`, `model` (a
    `--model` name), `checkpoint`, `analysis_fps`, `leave_after_s`, `leave_hidden_s` and `max_scene_s` pick the
    stages as `vstream index` does, and with them the rows' model_version. `metrics` receives
    the worker's counters (a private, unserved `Metrics` when None). A failed store write is
    retried after `backoff_s(attempt, cap=max_store_backoff_s)` seconds. Stored events and
    scenes are published as JSON to `events_topic` (`vstream.kafka.events`; "" or None: not
    published). Chunks are taken in batches of up to `max_poll_records`, or what arrived within
    `poll_timeout_s` of the batch before (`POLL_TIMEOUT_S`).

    About 300 lines, the faust wiring only: the serve loop with its three ways to stop, the
    agent and its batch handler, commits and the rebalance callbacks share one event loop, the
    batch lock and the `ready`/`_closing` flags. What needs none of them lives beside it, each
    unit-tested alone: ordering, admission, state, dead letters, store retry, catch-up.
    """

    def __init__(self, bootstrap: str, topic: str, store, *, group: str = DEFAULT_GROUP,
                 shots: str = "combined", model: str = DEFAULT_MODEL,
                 checkpoint: str | None = None, precision: str = "auto",
                 analysis_fps: float = DEFAULT_ANALYSIS_FPS,
                 leave_after_s: float = DEFAULT_LEAVE_AFTER_S,
                 leave_hidden_s: float = DEFAULT_LEAVE_HIDDEN_S,
                 max_scene_s: float = DEFAULT_MAX_SCENE_S, poll_timeout_s: float = POLL_TIMEOUT_S,
                 max_poll_records: int = 50, metrics: Metrics | None = None,
                 max_store_backoff_s: float = 10.0,
                 events_topic: str | None = EVENTS_TOPIC,
                 people_topic: str = PEOPLE_TOPIC) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.store = store
        self.group = group
        self.model = model
        self.people_topic = people_topic
        #: the people registry while `run` runs with a frame model
        self._registry: PeopleRegistry | None = None
        self.settings = StageSettings(shots, load_frame_model(model, checkpoint, precision),
                                      analysis_fps, leave_after_s, leave_hidden_s, max_scene_s)
        self.model_version = row_version(shots, self.settings.model, max_scene_s)
        self.poll_timeout_s = poll_timeout_s
        self.max_poll_records = max_poll_records
        self.stats = WorkerStats()
        self.metrics = metrics if metrics is not None else Metrics()
        self._stop = threading.Event()
        self._retry_store = StoreRetry(lambda delay: self._stop.wait(delay), max_store_backoff_s,
                                       self.stats, self.metrics)
        self._dead_letters = DeadLetterSink(bootstrap, dlq_topic(topic), self.stats, self.metrics)
        self._events = (EventPublisher(bootstrap, events_topic, metrics=self.metrics)
                        if events_topic else None)
        self._batches = BatchProcessor(
            store, self.settings, self.model_version, dead_letters=self._dead_letters,
            retry=self._retry_store, events=self._events, stats=self.stats, metrics=self.metrics)
        self._partitions = OrderedConsumer(topic, self.metrics)
        #: set while the group has given this worker its partitions and their states are
        #: recovered (it is consuming; cleared while a rebalance runs)
        self.ready = threading.Event()
        self._app: RewindingApp | None = None
        self._table = None
        #: one batch or stream finish at a time; rebalances wait for it
        self._lock: asyncio.Lock | None = None
        self._crashed: BaseException | None = None
        self._closing = False
        #: monotonic time of the last batch or assignment (the idle clock starts anew there)
        self._active_at = 0.0
        #: set: `run` returns, finishing every stream, once caught up (`exit_when_caught_up`)
        self._until_caught_up = threading.Event()
        #: capture times of chunks acked since the last commit (their capture-to-commit latency)
        self._uncommitted_captures: list[float] = []
        #: states and events of the batches since the last save (`state_saves`)
        self._pending = PendingSaves()
        self._stream = None  # the agent's stream, which acks events

    # -- the loop ------------------------------------------------------------------------------

    def run(self, stop_event: threading.Event | None = None, max_idle_s: float | None = None,
            until_caught_up: bool = False) -> WorkerStats:
        """Consume until `stop_event` is set, until caught up (`until_caught_up`), or until
        `max_idle_s` pass with no message; forever when none of them is given.

        Stopped by `stop_event`: commits what was written and returns; open streams are not
        finished (their saved states let the next worker continue them). Caught up (also once
        `exit_when_caught_up()` is called): every message that was on this worker's partitions
        is processed and no batch is in flight (`vstream.kafka.worker.catch_up` says exactly
        when; a message arriving later is left to the next run): a batch mode. Caught up, or
        idle for `max_idle_s` (since its last batch or assignment), it finishes every stream of
        its partitions, in memory or only in the state table, commits and returns. Returns the
        running stats. Raises BrokerUnavailableError when no broker answers or the topic is
        missing.
        """
        if until_caught_up:
            self._until_caught_up.set()
        self._stop = stop_event or threading.Event()
        partitions = topic_partitions(self.bootstrap, self.topic)
        loop = asyncio.new_event_loop()
        try:
            model = self.settings.model
            if model is not None:
                self._registry = self.settings.gallery = PeopleRegistry.open(
                    self.bootstrap, identity_version(model), match_threshold(self.model),
                    learn_threshold=learn_threshold(self.model), topic=self.people_topic,
                    stored=lambda: self._retry_store(
                        lambda: stored_people(self.store.people(identity_version(model))),
                        "reading the stored people"))
            if self._events is not None:
                self._events.open()  # creates the events topic at start, not at the first scene
            self._dead_letters.open(MAX_FETCH_BYTES)
            with tempfile.TemporaryDirectory(prefix="vstream-worker-") as datadir:
                loop.run_until_complete(self._serve(partitions, datadir, max_idle_s))
        except StopRequested:
            log.warning("stopped while the store was down: the chunks since the last commit "
                        "will be consumed again")
        finally:
            loop.close()
            if self._registry is not None:
                self._registry.close()
                self._registry = self.settings.gallery = None
            if self._events is not None:
                self._events.close()
            self._dead_letters.close()  # flushes the DLQ
        if self._crashed is not None:
            raise self._crashed
        log.info("worker stops: %s", self.stats.summary())
        return self.stats

    def exit_when_caught_up(self) -> None:
        """From any thread: `run` returns, finishing every stream, once caught up, as with
        `run(until_caught_up=True)`; for a worker started before its producers were done
        (caught up on an empty topic it would have stopped at once)."""
        self._until_caught_up.set()

    async def _serve(self, partitions: int, datadir: str, max_idle_s: float | None) -> None:
        self._lock = asyncio.Lock()
        app = self._app = self._make_app(partitions, datadir)
        self._partitions.app = app
        self._active_at = time.monotonic()
        await app.start()
        lag_at = -math.inf  # the first lag at once, however long the machine has been up
        try:
            while not self._stop.is_set() and self._crashed is None:
                await asyncio.sleep(0.1)
                if not self.ready.is_set():
                    continue
                now = time.monotonic()
                if not self._lock.locked():
                    await self._partitions.seek_rewinds_again(now, RESEEK_AFTER_S)
                if now - lag_at >= LAG_INTERVAL_S:
                    lag_at = now
                    self._partitions.update_lag()
                if self._until_caught_up.is_set() and await self._finished_caught_up():
                    break
                if self._pending.due() and not self._lock.locked():
                    async with self._lock:  # a stream that went quiet gets its last state saved
                        await self._save_and_ack()
                if (max_idle_s is not None and not self._lock.locked()
                        and now - self._active_at >= max_idle_s):
                    if await self._partitions.fetch_behind():
                        self._active_at = time.monotonic()  # the refetch gets its time
                        continue
                    async with self._lock:
                        await self._finish_streams(f"no message for {max_idle_s:.1f} s")
                    break
            async with self._lock:
                self._closing = True
                await self._save_and_ack()
                await self._commit()
                self._partitions.update_lag()
        finally:
            await app.stop()

    async def _finished_caught_up(self) -> bool:
        """When caught up (see `run`): finish every stream and return True. Otherwise, after
        `REFETCH_AFTER_S` without a batch, fetch again what waits on the partitions."""
        if self._lock.locked():
            return False  # a batch in flight: its messages are not processed yet
        async with self._lock:
            # Decided under the lock, so no batch starts before the streams are finished; a
            # rebalance that began meanwhile has cleared `ready`.
            if (self.ready.is_set() and not self._closing
                    and await self._partitions.caught_up()):
                await self._finish_streams("caught up with the topic")
                return True
        if (time.monotonic() - self._active_at >= REFETCH_AFTER_S
                and await self._partitions.fetch_behind()):
            self._active_at = time.monotonic()  # the refetch gets its time
        return False

    async def _finish_streams(self, reason: str) -> None:
        """Under the batch lock: finish every stream of this worker's partitions (`reason`
        says why, for the log), delete their saved states, flush the producer."""
        self._closing = True  # a batch arriving now stays unacked
        finished = await asyncio.to_thread(self._finish_all, reason)
        # After their rows: a crash before this leaves the states, and the next worker to
        # finish its streams finishes them again (same rows, skipped).
        for key in finished:
            del self._table[key]
        for event in self._pending.finished():  # their chunks are all in rows now
            await self._stream.ack(event)
        await self._app.producer.flush()

    def _make_app(self, partitions: int, datadir: str) -> RewindingApp:
        app = new_app(self.group, self.bootstrap, self.topic, partitions, datadir,
                      self.max_poll_records)
        topic = app.topic(self.topic, key_type=bytes, value_type=bytes, partitions=partitions)
        # Keyed by stream ID like the chunks, and placed by the producer's partitioner (murmur2,
        # as the ingest's), so a stream's state sits on its chunks' partition number.
        self._table = app.Table(state_table(self.topic), default=None, key_type=bytes,
                                value_type=bytes, partitions=partitions, use_partitioner=True)
        app.agent(topic, name="chunks")(self._consume)
        app.on_partitions_revoked.connect(self._on_revoked)
        app.on_partitions_assigned.connect(self._on_assigned)
        app.on_rebalance_complete.connect(self._on_rebalance_complete)
        app.sensors.add(CommitSensor(self._committed))
        return app

    async def _consume(self, stream) -> None:
        """The agent: batches of chunks in partition order, acked once stored and their
        streams' states saved."""
        self._stream = stream
        async for events in stream.noack_take(self.max_poll_records, within=self.poll_timeout_s):
            if self._closing or self._stop.is_set():
                continue  # unacked: replayed by whoever consumes next
            try:
                async with self._lock:
                    if self._closing:
                        continue
                    done = await self._handle(events)
                    # Under the lock: the final commit (which takes it) must see these acks.
                    for event in done:
                        await stream.ack(event)
            except StopRequested:
                self._closing = self._pending.failed = True  # nothing of this batch is acked
                continue
            except Exception as ex:  # a bug, not bad input: stop rather than skip chunks
                log.exception("worker failed on a batch of %d chunks", len(events))
                self._crashed = ex
                self._closing = self._pending.failed = True
                continue

    async def _handle(self, events: list) -> list:
        """One batch: restore unknown streams from the table, process the batch on a thread,
        then, when a save is due (`PendingSaves`), save the states the batches since the last
        save moved on. Returns the events to ack: those of the batches whose states are saved
        now (not those left on a partition read again over a gap, which come again)."""
        fetched = len(events)
        events = await self._partitions.in_order(events, time.monotonic())
        messages = [event.message for event in events]
        if self.stats.first_record_at is None:
            self.stats.first_record_at = time.monotonic()
        self._active_at = time.monotonic()
        saved: dict[str, bytes] = {}
        for message in messages:  # table reads stay on the loop's thread
            if message.key is None:
                continue
            stream_id = message.key.decode("utf-8", "replace")  # the producer keys by stream ID
            if stream_id not in self._batches.streams and stream_id not in saved:
                value = self._table.get(message.key)
                if value is not None:
                    saved[stream_id] = value
        log.debug("batch of %d messages (%d fetched): offsets %s", len(messages), fetched,
                  _offset_ranges(messages))
        states, captured, rewinds = await asyncio.to_thread(self._batches.process, messages,
                                                            saved)
        if rewinds:
            await self._partitions.rewind({r.partition: r.offset for r in rewinds},
                                          time.monotonic())
        self._pending.add(states, [e for e in events if not any(
            r.left(e.message.partition, e.message.offset) for r in rewinds)])
        self._uncommitted_captures += captured
        self._active_at = time.monotonic()
        return self._save() if self._pending.due() else []

    def _save(self) -> list:
        """Save the waiting states (of partitions assigned now: it may have changed during the
        batch); return the events they cover, to ack."""
        def put(state: StreamState) -> None:
            self._table[state.stream_id.encode()] = state.snapshot(self.model_version)

        return self._pending.save(self._partitions.assigned(), put)

    async def _save_and_ack(self) -> None:
        """Under the batch lock: save the waiting states and ack their chunks."""
        if self._stream is not None:
            for event in self._save():
                await self._stream.ack(event)

    def _finish_all(self, reason: str) -> list[bytes]:
        """Caught up or idle (`reason`): finish every stream of this worker's partitions, also
        those known only from the table (the worker that ran them stopped after their last
        chunk). Runs on a worker thread, under the batch lock; returns the table keys to
        delete."""
        assigned = self._partitions.assigned()
        waiting = {key.decode("utf-8", "replace"): value
                   for key, value in list(self._table.items()) if value is not None
                   and StreamState.partition_of(value) in assigned}
        self._batches.finish_all(waiting, reason)
        return [key.encode() for key in waiting]

    async def _commit(self) -> None:
        try:
            await self._app.consumer.commit()
        except Exception as ex:  # noqa: BLE001 - the next owner replays, skipped by seq
            log.warning("final offset commit failed (%s): the chunks since the last commit "
                        "will be consumed again", ex)

    def _committed(self) -> None:
        """faust committed offsets (its sensor calls this on the event loop)."""
        self.stats.commits += 1
        self.metrics.commits.inc()
        now = time.time()
        for capture_time in self._uncommitted_captures:
            self.metrics.chunk_latency.observe(max(0.0, now - capture_time))
            self.stats.chunk_latencies.append(max(0.0, now - capture_time))
        self._uncommitted_captures = []

    # -- rebalancing ---------------------------------------------------------------------------

    async def _on_revoked(self, sender: Any, revoked: set, **_: Any) -> None:
        """The group takes partitions away. faust has waited for the batch in flight (and no
        batch starts during a rebalance); their streams' states are dropped here: the next owner
        continues them from the table, and so would this worker if they come back."""
        gone = {tp.partition for tp in revoked if tp.topic == self.topic}
        # A rebalance is no idle time (the idle clock waits for its end), and no worker is
        # caught up in one.
        self.ready.clear()
        async with self._lock:
            dropped = self._batches.drop_partitions(gone)
            self._pending.forget(gone)
        self._partitions.forget(gone)  # their lag is the new owners' to report
        if gone:
            log.info("partitions %s revoked; %d stream states dropped (saved in the table)",
                     sorted(gone), dropped)

    async def _on_assigned(self, sender: Any, assigned: set, **_: Any) -> None:
        """The group gives this worker partitions; their streams are restored lazily, from the
        table, when their chunks arrive."""
        self._active_at = time.monotonic()
        log.info("partitions %s assigned",
                 sorted(tp.partition for tp in assigned if tp.topic == self.topic))

    async def _on_rebalance_complete(self, sender: Any, **_: Any) -> None:
        """The table partitions are recovered from the changelog: consuming starts."""
        self._active_at = time.monotonic()
        self.ready.set()


def _offset_ranges(messages: list) -> dict[int, tuple[int, int]]:
    """Per partition, the lowest and highest offset of `messages` (for the debug log)."""
    found: dict[int, list[int]] = {}
    for message in messages:
        found.setdefault(message.partition, []).append(message.offset)
    return {partition: (min(offsets), max(offsets)) for partition, offsets in found.items()}
