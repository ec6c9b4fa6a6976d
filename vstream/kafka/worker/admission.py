"""Which messages of a batch become work: parsed, then admitted as new, or dropped as a replay
or a producer retry.

A chunk whose seq is above its stream's last seq is next in its stream. One at or below it is
a replay when it sits where the stream's saved state was taken (same partition, offset below the
state's resume offset: consumed again after a restart or rebalance, the state holds it already),
and otherwise a producer retry (a duplicate). Admission runs on the batch's thread, in the
messages' order; only decoding runs ahead on another thread (`decode_ahead`).
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
    REPLAY = "replay"  # held by the saved state this stream was restored from: skipped
    DUPLICATE = "duplicate"  # a producer retry of a chunk seen: skipped


def admission_of(state: StreamState | None, seq: int, partition: int, offset: int) -> Admission:
    """How the chunk `seq` of a stream, read at `partition`/`offset`, is admitted when the
    stream's state is `state` (None: the worker has no state for the stream)."""
    if state is None:
        return Admission.FIRST
    if seq > state.last_seq:
        return Admission.NEXT
    if partition == state.partition and offset < state.resume_offset:
        return Admission.REPLAY
    return Admission.DUPLICATE


@dataclass(frozen=True)
class DeadLetter:
    """A message to send to the dead-letter topic: `kind` is the error class, `reason` why."""

    message: Any
    kind: str
    reason: str


@dataclass(frozen=True)
class AdmittedChunk:
    """A chunk to decode and feed to its stream's stages."""

    message: Any
    chunk: GopChunk
    state: StreamState


class ChunkAdmission:
    """Admits the messages of each batch against the worker's `streams` (stream ID -> state).

    `new_stream(chunk)` makes the state of a stream whose first chunk `chunk` is; admission adds
    it to `streams`. Skipped chunks are counted in `stats` and `metrics`.
    """

    def __init__(self, streams: dict[str, StreamState],
                 new_stream: Callable[[GopChunk], StreamState], stats: WorkerStats,
                 metrics: Metrics) -> None:
        self.streams = streams
        self.new_stream = new_stream
        self.stats = stats
        self.metrics = metrics

    def admit(self, messages: list, touched: dict[str, StreamState]
              ) -> Iterator[DeadLetter | AdmittedChunk]:
        """Parse and admit `messages` (faust Messages) in order.

        Yields a DeadLetter for a message that is not a chunk and an AdmittedChunk for a chunk
        to decode and feed; a replay or a retry yields nothing. Streams whose state moves on
        (last seq, offsets) are added to `touched`.
        """
        for message in messages:
            try:
                chunk = GopChunk.from_bytes(message.value or b"")
            except ChunkFormatError as ex:
                yield DeadLetter(message, NOT_A_CHUNK, f"ChunkFormatError: {ex}")
                continue
            state = self.streams.get(chunk.stream_id)
            admission = admission_of(state, chunk.seq, message.partition, message.offset)
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
            if admission is Admission.FIRST:
                state = self.streams[chunk.stream_id] = self.new_stream(chunk)
                log.info("stream %s: first chunk (seq %d, %s %dx%d)", chunk.stream_id, chunk.seq,
                         chunk.codec, chunk.width, chunk.height)
            state.last_seq = chunk.seq
            state.partition, state.next_offset = message.partition, message.offset + 1
            touched[chunk.stream_id] = state
            yield AdmittedChunk(message, chunk, state)
