"""What the worker keeps per stream between its chunks, and how it is saved in the state table.

A stream's state is made on its first chunk, or restored from the faust table
`stream_state-<topic>` (`state_table`), whose changelog is `state_changelog`. `snapshot` is
plain data (the stages' rings and pending decisions, the open scene, trackers, frames waiting for
analysis, plus the worker's bookkeeping), never a model or an FFmpeg context.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from fractions import Fraction

from vstream.chunk import GopChunk
from vstream.decode.frames import FrameBatch
from vstream.store.rows import COMPLETE, PARTIAL
from vstream.stream.analyzer import ModelPass
from vstream.stream.stages import SnapshotError, StageOutput, StreamStages, pack_state, unpack_state

#: the faust table of per-stream states is `stream_state-<topic>` (see `state_changelog`)
STATE_TABLE = "stream_state"
#: chunks per stream whose capture times are kept to date the frames of closing scenes
CAPTURE_ANCHORS = 256


def state_table(topic: str) -> str:
    """The name of the faust table of the stream states of `topic`'s streams: one per chunk
    topic, so a group that consumes two topics never mixes up their streams."""
    return f"{STATE_TABLE}-{topic}"


def state_changelog(group: str, topic: str) -> str:
    """The changelog topic (faust's naming) of the stream states of `group` on `topic`."""
    return f"{group}-{state_table(topic)}-changelog"


@dataclass(frozen=True)
class StreamInfo:
    """What the `streams` row says about a stream, taken from its first chunk."""

    source: str
    codec: str
    width: int
    height: int
    frame_rate: Fraction

    @classmethod
    def of(cls, chunk: GopChunk) -> StreamInfo:
        """The stream's description as its chunk `chunk` carries it."""
        return cls(chunk.source, chunk.codec, chunk.width, chunk.height, chunk.frame_rate)


@dataclass
class StreamState:
    """What the worker keeps for one stream between its chunks (built on the stream's first
    chunk, or restored from the state table)."""

    stream_id: str
    stages: StreamStages
    info: StreamInfo  # codec, size, rate and source of the stream, for its `streams` row
    last_seq: int = -1
    frames: int = 0
    chunks: int = 0
    last_end_s: float = 0.0
    #: (first_frame, capture_time, frame_rate) of the stream's recent chunks that carry a
    #: capture time, oldest first: a scene closes chunks after its last frame arrived
    captures: deque = field(default_factory=lambda: deque(maxlen=CAPTURE_ANCHORS))
    #: where the stream's chunks are: its partition, and the offset after its last chunk seen
    partition: int = -1
    next_offset: int = 0
    #: last_seq when the partition was last read again over a gap after it (admission): a
    #: gap seen again there is chunks that never reached the topic
    rewound_at_seq: int = -2
    #: chunks FFmpeg could not decode (dead-lettered, left out as a gap), and why the first was
    skipped: int = 0
    skip_reason: str = ""

    def snapshot(self, model_version: str) -> bytes:
        """The state at a chunk boundary (after `feed`) as bytes: the stages' snapshot and the
        worker's own bookkeeping of the stream, tagged with the rows' `model_version`."""
        return pack_state({
            "stream_id": self.stream_id, "model_version": model_version,
            "info": asdict(self.info), "last_seq": self.last_seq, "frames": self.frames,
            "chunks": self.chunks, "last_end_s": self.last_end_s,
            "captures": list(self.captures), "partition": self.partition,
            "next_offset": self.next_offset, "skipped": self.skipped,
            "skip_reason": self.skip_reason, "stages": self.stages.snapshot(),
        }, level=0)  # the stages' snapshot is compressed already

    @classmethod
    def restore(cls, data: bytes, model_version: str,
                make_stages: Callable[..., StreamStages]) -> StreamState:
        """The state `snapshot` saved; `make_stages(data, frame_rate)` restores the stages with
        the worker's shared model and gallery. Raises SnapshotError (also when the state was
        made by other stages than `model_version`'s)."""
        saved = unpack_state(data)
        if saved.get("model_version") != model_version:
            raise SnapshotError(f"the state was made by {saved.get('model_version')}, this "
                                f"worker makes {model_version}")
        info = StreamInfo(**saved["info"])
        state = cls(saved["stream_id"], make_stages(saved["stages"], float(info.frame_rate)),
                    info, last_seq=int(saved["last_seq"]), frames=int(saved["frames"]),
                    chunks=int(saved["chunks"]), last_end_s=float(saved["last_end_s"]),
                    partition=int(saved["partition"]), next_offset=int(saved["next_offset"]),
                    skipped=int(saved.get("skipped", 0)),
                    skip_reason=str(saved.get("skip_reason", "")))
        state.captures.extend(saved["captures"])
        return state

    @staticmethod
    def partition_of(data: bytes) -> int:
        """The partition of the stream whose state `data` is (-1 when unreadable)."""
        try:
            return int(unpack_state(data)["partition"])
        except (SnapshotError, KeyError, TypeError, ValueError):
            return -1

    def decode(self, chunk: GopChunk) -> tuple:
        """Decode one chunk: (FrameBatch, samples). Touches only the decoder, so the worker runs
        it on its decode-ahead thread. Raises DecodeError."""
        return self.stages.decode(chunk)

    def analyse(self, samples: FrameBatch | None) -> ModelPass | None:
        """A decoded chunk's samples through the frame model (`StreamStages.analyse`). Touches
        only the model, so the worker runs it on a thread of its own where the model is
        `pipelined`."""
        return self.stages.analyse(samples)

    def feed(self, chunk: GopChunk, batch, samples) -> StageOutput:
        """Feed a decoded chunk to the segmenter and analyzer; return the rows it completed."""
        if chunk.capture_time is not None and chunk.frame_rate:
            self.captures.append((chunk.first_frame, chunk.capture_time, float(chunk.frame_rate)))
        out = self.stages.process(batch, samples, chunk)  # the chunk: for its stream gap, if any
        self.frames += len(batch)
        self.chunks += 1
        return out

    def skip(self, chunk: GopChunk, reason: str) -> None:
        """Leave out a chunk FFmpeg could not decode: its frames are a gap, marked by a
        `stream_gap` event where video resumes, and the stream ends `partial` (as `vstream index`
        does with a damaged file)."""
        self.stages.skip(chunk, f"chunk {chunk.seq} skipped: {reason}")
        self.skipped += 1
        self.skip_reason = self.skip_reason or " ".join(reason.split())

    def finish(self) -> StageOutput:
        """End the stream: the rows its stages held back (the last frames of a GOP sent in
        parts, the last scene)."""
        before = self.stages.frames
        out = self.stages.finish()
        self.frames += self.stages.frames - before
        return out

    @property
    def status(self) -> tuple[str, str]:
        """(status, status_reason) of the stream's `streams` row."""
        if not self.skipped:
            return COMPLETE, ""
        many = "s" if self.skipped > 1 else ""
        return PARTIAL, (f"{self.frames} frames indexed; {self.skipped} undecodable chunk{many} "
                         f"skipped ({self.skip_reason})")

    def captured_at(self, frame: int) -> float | None:
        """Wall-clock time frame `frame` (of this stream) was captured by: the end of that frame
        (None when its chunk carried no capture time, as for a VOD file sent at full speed)."""
        for first_frame, capture_time, rate in reversed(self.captures):
            if first_frame <= frame:
                return capture_time + (frame - first_frame + 1) / rate
        return None
