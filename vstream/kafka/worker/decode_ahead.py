"""Decoding of admitted chunks on the decode-ahead thread, and their frame model pass.

As in `vstream index`, FFmpeg decodes the next chunks on a thread (it releases the GIL) while the
batch's thread segments the current one; the frame model's pass over their samples runs on a
thread of its own between them where the model is `pipelined` (else on the batch's thread).
Those threads touch nothing but the streams' decoders and the model (`StreamAnalyzer.run_model`
reads no stream state): admission, the rest of the stages and the store stay on the batch's
thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from vstream.chunk import GopChunk
from vstream.errors import DecodeError
from vstream.kafka.worker.admission import AdmittedChunk, DeadLetter
from vstream.kafka.worker.stream_state import StreamState


@dataclass(frozen=True)
class DecodedChunk:
    """An admitted chunk, its frames (`batch`) and its analysis samples (`samples`: decoded, then
    through the frame model by `analysed`), ready to feed."""

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


def analysed(items: Iterable[DeadLetter | DecodedChunk | UndecodableChunk]
             ) -> Iterator[DeadLetter | DecodedChunk | UndecodableChunk]:
    """`decoded`'s items, each DecodedChunk's samples through its stream's frame model
    (`StreamState.analyse`); only the model is touched."""
    for item in items:
        if isinstance(item, DecodedChunk):
            item = replace(item, samples=item.state.analyse(item.samples))
        yield item
