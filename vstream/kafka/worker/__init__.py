"""The Kafka driver: a faust-streaming app that turns the chunk topic into rows.

    from vstream.store import open_store
    from vstream.kafka.worker import ChunkWorker
    with open_store("chdb:///tmp/vs") as store:
        worker = ChunkWorker("127.0.0.1:9092", "vstream.chunks", store)
        stats = worker.run(until_caught_up=True)  # index what is on the topic, finish streams

Same stages as `vstream index` (one core, two drivers): per stream a
`vstream.stream.stages.StreamStages` (decoder, segmenter, and with a frame model the analyzer:
network, trackers, people, scene stories), fed chunk by chunk in the stream's order; its output
becomes the same rows (same row_id, same model_version) that `index_video` writes, so a file
indexed in-process and the same file streamed through Kafka give the same rows. People IDs come
from the registry every worker shares (`vstream.kafka.people_registry`, the topic
`vstream.people`): one person is one ID whichever worker sees them, and no ID names two people.

The app (`faust.App`, id = the consumer group) has one agent on the chunk topic and one table,
`stream_state-<topic>` (changelog topic `<group>-stream_state-<topic>-changelog`, co-partitioned
with the chunk topic: both are keyed by stream ID). The agent takes the chunks in batches of up to
`max_poll_records` (`Stream.noack_take`) and hands each batch to a thread (decoding, the network
and the store are blocking work; the event loop keeps the group membership and the fetcher
going). For each batch the rows are written and the dead letters acknowledged; then, at most
once a second (`STATE_SAVE_INTERVAL_S`, and when the worker goes idle or stops), the state of
every stream the batches since the last save moved on is put in the table
(`StreamState.snapshot`: shot detector history, open scene, trackers, frames waiting for
analysis, the open GOP's parts, last seq, counters; never a model or an FFmpeg context), and
only then are those batches' messages acked. A batch that fails midway stops the worker with
nothing more saved or acked. faust commits acked
offsets every `commit_interval_s`, after flushing its producer, so the table's changelog is on
the broker before the offsets that depend on it.

So a worker killed at any point (SIGKILL included) and restarted, or replaced by another member
of its group, writes exactly the rows of an uninterrupted run: a crash before the state reached
the changelog replays the chunks from the older state and makes the same rows (skipped by
row_id); a crash after it, before the commit, replays chunks that the state already holds (their
seq is at or below the state's last seq and their offset below the one after its last chunk:
skipped). On a rebalance faust waits for the batch in flight, then the worker drops the states
of revoked partitions; the new owner recovers the table partitions from the changelog before it
consumes. A chunk whose seq is not above the last seq seen and that is not such a replay is a
producer retry: skipped.

A stream's state is the truth of where it stands, the committed offset only where reading
starts: a chunk that skips seqs while the offsets after the stream's last chunk were never read
by this worker (a state older than the commit, however that came about) makes the worker read
the partition again from there (`admission`, `Rewind`); the other streams' chunks it meets
again are replays, skipped.

A message that is not a chunk (ChunkFormatError) or that FFmpeg cannot decode (DecodeError) goes
to `<topic>.dlq` with headers `reason`, `source_topic`, `source_partition`, `source_offset`; the
worker carries on.

Store outages: a write that fails with StoreError (server down, connection lost) is retried with
exponential back-off and jitter (capped at `max_store_backoff_s`), each failure logged, for as
long as the store stays down. Nothing of the batch is acked meanwhile, so nothing is committed;
faust's bounded stream buffer stops the fetcher, and its consumer thread keeps the membership.
Stopping the worker during an outage loses nothing (the chunks are replayed).

Metrics (`vstream.metrics.Metrics`, served by `vstream worker --metrics-port`): chunks and frames
per stream, rows written, consumer lag per partition, capture-to-row latency, drops and dead
letters by reason, store retries, commits.

With a frame model the people registry is not part of a stream's state (it is a log on its own
topic, folded by every worker and stored as `people` rows after each batch), so a replayed batch
sees the people it already entered, and its tracklets get the same IDs again.

Streams never end on Kafka: `run(until_caught_up=True)` (`vstream worker --exit-when-caught-up`)
finishes every stream of the worker's partitions once it has processed every message on them (up
to their end offsets, read from fetch responses that came after it first found itself caught up:
`catch_up`), and `run(max_idle_s=...)` does when no message came for that long (last scene,
`streams` row; its table entry is deleted), also those it knows only from the table (their worker
stopped after their last chunk). The idle clock cannot tell a quiet topic from a slow fetch; the
caught-up state can, so batch jobs and tests stop on it.

The parts, one job each (only `chunk_worker` and `ordered_consumer` know faust):

- `chunk_worker`: `ChunkWorker`, the faust wiring: app, agent, state table, rebalances, commits.
- `ordered_consumer`: the consumer made to deliver each partition in order (seeks, lag).
- `ordering`: `PartitionOrder`, pure: take, drop or seek back, per message; lag; caught up.
- `catch_up`: `CatchUp`, pure: caught up on end offsets fetched after the first look.
- `batch_processor`: one batch into rows (restore, admit, decode ahead, feed, write); stream ends.
- `admission`: per chunk: a stream's first, next, a replay, a producer retry, or a gap to read
  again.
- `decode_ahead`: decoding of admitted chunks (the only work on the decode-ahead thread), and
  their frame model pass (on a thread of its own for a `pipelined` model).
- `stream_state`: `StreamState`, what is kept per stream, its snapshot and restore.
- `stage_settings`: what every stream's stages are made with.
- `dead_letters`: `DeadLetterSink`, the dead-letter topic.
- `store_retry`: `StoreRetry`, store writes retried with back-off through an outage.
- `stats`: `WorkerStats`, the counts `run` returns.
"""

from vstream.kafka.worker.chunk_worker import ChunkWorker
from vstream.kafka.worker.stats import WorkerStats

__all__ = ["ChunkWorker", "WorkerStats"]
