"""Decoding of admitted chunks, on the decode-ahead thread.

As in `vstream index`, FFmpeg decodes the next chunks on a thread (it releases the GIL) while the
batch's thread segments the current one. That thread touches nothing but the streams' decoders:
admission, the stages and the store stay on the batch's thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from vstream.chunk import GopChunk
from vstream.errors import DecodeError
from vstream.kafka.worker.admission import AdmittedChunk, DeadLetter
from vstream.kafka.worker.stream_state import StreamState


@dataclass(frozen=True)
class DecodedChunk:
    """An admitted chunk and its frames (`batch`) and analysis samples, ready to feed."""

    message: Any
    chunk: GopChunk
    state: StreamState
    batch: Any
    samples: Any


@dataclass(frozen=True)
class UndecodableChunk:
    """An admitted chunk FFmpeg could not decode: a dead letter, and a gap in its stream."""

    message: Any
    chunk: GopChunk
    state: StreamState
    reason: str


def decoded(admitted: Iterable[DeadLetter | AdmittedChunk]
            ) -> Iterator[DeadLetter | DecodedChunk | UndecodableChunk]:
    """Decode admitted chunks in order: each AdmittedChunk becomes a DecodedChunk, or an
    UndecodableChunk when FFmpeg cannot decode it; dead letters pass as they are. Only the
    streams' decoders are touched (`StreamState.decode`)."""
    for item in admitted:
        if isinstance(item, DeadLetter):
            yield item
            continue
        try:
            batch, samples = item.state.decode(item.chunk)
        except DecodeError as ex:
            yield UndecodableChunk(item.message, item.chunk, item.state, f"DecodeError: {ex}")
            continue
        yield DecodedChunk(item.message, item.chunk, item.state, batch, samples)
