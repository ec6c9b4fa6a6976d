"""Which messages of a batch become work: parsed, then admitted as new, or dropped as a replay
or a producer retry, or held back while the partition is read again over a gap.

A chunk whose seq is above its stream's last seq is next in its stream. One at or below it is
a replay when it sits on the stream's partition below the offset after the stream's last chunk
(consumed again after a restart, a rebalance or a seek: the state holds it already), and
otherwise a producer retry (a duplicate).

A stream's seqs are consecutive (the ingest numbers its chunks so, across reconnects). A chunk
that skips seqs while the offsets after the stream's last chunk were never read here (this
worker started reading the partition further on) means the missing chunks may sit there,
unread: a saved state older than the group's committed offset (a worker killed between the
commit and the state reaching the changelog, or a recovery that read the changelog short). The
partition is then read again from the offset after the stream's last chunk (`Rewind`), once per
gap. Skipped offsets within what was read are `PartitionOrder`'s; a gap over offsets read here
is chunks that never reached the topic, and the stream goes on without them.

Admission runs on the batch's thread, in the messages' order; only decoding runs ahead on
another thread (`decode_ahead`).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from vstream.chunk import GopChunk
from vstream.errors import ChunkFormatError
from vstream.kafka.worker.dead_letters import NOT_A_CHUNK
from vstream.kafka.worker.stats import WorkerStats
from vstream.kafka.worker.stream_state import StreamState
from vstream.metrics import Metrics

log = logging.getLogger(__name__)


class Admission(enum.Enum):
    """What to do with a chunk, given its stream's state."""

    FIRST = "first"  # the stream's first chunk here: its state is made
    NEXT = "next"  # after the stream's last seq: fed
    REPLAY = "replay"  # read before on its partition (the state holds it): skipped
    DUPLICATE = "duplicate"  # a producer retry of a chunk seen: skipped
    GAP = "gap"  # seqs skipped, the missing chunks maybe unread: the partition is read again


def admission_of(state: StreamState | None, seq: int, partition: int, offset: int,
                 read_from: int | None = None) -> Admission:
    """How the chunk `seq` of a stream, read at `partition`/`offset`, is admitted when the
    stream's state is `state` (None: the worker has no state for the stream) and this worker
    has read `partition` in order from offset `read_from` (None: not known)."""
    if state is None:
        return Admission.FIRST
    if seq > state.last_seq:
        if (seq > state.last_seq + 1 and partition == state.partition and read_from is not None
                and state.next_offset < read_from and state.rewound_at_seq != state.last_seq):
            return Admission.GAP
        return Admission.NEXT
    if partition == state.partition and offset < state.next_offset:
        return Admission.REPLAY
    return Admission.DUPLICATE


@dataclass(frozen=True)
class DeadLetter:
    """A message to send to the dead-letter topic: `kind` is the error class, `reason` why."""

    message: Any
    kind: str
    reason: str


@dataclass(frozen=True)
class Rewind:
    """Read `partition` again from `offset`: chunks of `stream_id` after its seq `after` may
    sit there unread. The batch's messages there from offset `at` on (the chunk that showed
    the gap) were left: not processed, not to be acked."""

    partition: int
    offset: int
    stream_id: str
    after: int
    at: int

    def left(self, partition: int, offset: int) -> bool:
        """Whether the message at `partition`/`offset` of the batch was left for later."""
        return partition == self.partition and offset >= self.at


@dataclass(frozen=True)
class AdmittedChunk:
    """A chunk to decode and feed to its stream's stages."""

    message: Any
    chunk: GopChunk
    state: StreamState


class ChunkAdmission:
    """Admits the messages of each batch against the worker's `streams` (stream ID -> state).

    `new_stream(chunk)` makes the state of a stream whose first chunk `chunk` is; admission adds
    it to `streams`. Skipped chunks are counted in `stats` and `metrics`. Per partition it keeps
    the offset it has read it from, in order (`read_from`), until `forget`.
    """

    def __init__(self, streams: dict[str, StreamState],
                 new_stream: Callable[[GopChunk], StreamState], stats: WorkerStats,
                 metrics: Metrics) -> None:
        self.streams = streams
        self.new_stream = new_stream
        self.stats = stats
        self.metrics = metrics
        #: per partition, the first offset of the messages read since it was assigned (or read
        #: again from, after a Rewind)
        self.read_from: dict[int, int] = {}

    def forget(self, partitions: set[int]) -> None:
        """`partitions` were revoked: where this worker read them from no longer counts."""
        for partition in partitions:
            self.read_from.pop(partition, None)

    def admit(self, messages: list, touched: dict[str, StreamState]
              ) -> Iterator[DeadLetter | AdmittedChunk | Rewind]:
        """Parse and admit `messages` (faust Messages) in order.

        Yields a DeadLetter for a message that is not a chunk, an AdmittedChunk for a chunk to
        decode and feed, and a Rewind for a partition to read again over a stream's gap (its
        later messages in `messages` are left: they come again); a replay or a retry yields
        nothing. Streams whose state moves on (last seq, offsets) are added to `touched`.
        """
        rewound: set[int] = set()
        for message in messages:
            if message.partition in rewound:
                continue
            self.read_from.setdefault(message.partition, message.offset)
            try:
                chunk = GopChunk.from_bytes(message.value or b"")
            except ChunkFormatError as ex:
                yield DeadLetter(message, NOT_A_CHUNK, f"ChunkFormatError: {ex}")
                continue
            state = self.streams.get(chunk.stream_id)
            admission = admission_of(state, chunk.seq, message.partition, message.offset,
                                     self.read_from[message.partition])
            if admission is Admission.REPLAY:
                self.stats.replayed += 1
                log.debug("%s: chunk %d is in the saved state, skipped", chunk.stream_id,
                          chunk.seq)
                continue
            if admission is Admission.DUPLICATE:
                self.stats.duplicates += 1
                self.metrics.chunks_dropped.labels("duplicate").inc()
                log.info("%s: chunk %d again (last seen %d): a producer retry, skipped",
                         chunk.stream_id, chunk.seq, state.last_seq)
                continue
            if admission is Admission.GAP:
                state.rewound_at_seq = state.last_seq
                rewound.add(message.partition)
                self.read_from[message.partition] = state.next_offset
                log.warning("stream %s: chunk %d after chunk %d (offsets %d-%d unread here): "
                            "reading partition %d again from offset %d", chunk.stream_id,
                            chunk.seq, state.last_seq, state.next_offset, message.offset - 1,
                            message.partition, state.next_offset)
                yield Rewind(message.partition, state.next_offset, chunk.stream_id,
                             state.last_seq, message.offset)
                continue
            if admission is Admission.FIRST:
                state = self.streams[chunk.stream_id] = self.new_stream(chunk)
                log.info("stream %s: first chunk (seq %d, %s %dx%d)", chunk.stream_id, chunk.seq,
                         chunk.codec, chunk.width, chunk.height)
            elif chunk.seq > state.last_seq + 1:
                log.warning("stream %s: chunks %d-%d never came; it goes on at chunk %d",
                            chunk.stream_id, state.last_seq + 1, chunk.seq - 1, chunk.seq)
            state.last_seq = chunk.seq
            state.partition, state.next_offset = message.partition, message.offset + 1
            touched[chunk.stream_id] = state
            yield AdmittedChunk(message, chunk, state)
