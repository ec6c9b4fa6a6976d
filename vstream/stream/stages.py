"""`StreamStages`: the stages one stream runs, chunk by chunk, in either driver.

Decoder → segmenter (every frame) and → analyzer (the analysis-rate samples: frame model,
trackers, people gallery, scene stories). `vstream.drivers.index` feeds it the chunks of a file;
`vstream.kafka.worker` the chunks of a Kafka topic. Same stages, same rows.
"""

from __future__ import annotations

import dataclasses
import logging
import pickle
import struct
import zlib
from dataclasses import dataclass, field

from vstream import __version__
from vstream.chunk import GopChunk
from vstream.decode.ffmpeg import FfmpegDecoder
from vstream.decode.frames import FrameBatch
from vstream.detect.analysis import FrameModel, identity_version
from vstream.errors import DecodeError, VStreamError
from vstream.segment.factory import make_shot_detector
from vstream.segment.scenes import Scene, Segmenter
from vstream.store.analysis_rows import (
    detection_rows, event_rows, person_rows, scene_rows, stored_people, track_rows,
)
from vstream.store.rows import STREAM_GAP, EventRow
from vstream.stream.analyzer import ModelPass, SceneAnalysis, StreamAnalyzer
from vstream.track.gallery import Gallery, PeopleGallery
from vstream.track.presence import (DEFAULT_LEAVE_AFTER_S, DEFAULT_LEAVE_HIDDEN_S, ENTER,
                                    PresenceEvent)
from vstream.track.tracklets import FrameRecord

log = logging.getLogger(__name__)

#: frames per second the frame model analyses by default (see docs/models.md, "Analysis rate")
DEFAULT_ANALYSIS_FPS = 5.0
#: longest scene by default (seconds; 0: no maximum): a fixed camera's day becomes scenes
#: closed as it goes, each held in memory (its analysed frames) for at most this long
DEFAULT_MAX_SCENE_S = 60.0

#: snapshot encoding: magic, u16 format version, then zlib-compressed pickle of plain data
#: (dicts, lists, ints, NumPy arrays, vstream's own small dataclasses; never a model)
SNAPSHOT_MAGIC = b"VSSS"
SNAPSHOT_VERSION = 5  # 5: body tracks carry clothing-colour appearance (track.body_appearance)
_SNAPSHOT_PREFIX = struct.Struct("<4sH")


class SnapshotError(VStreamError):
    """A stream state snapshot that this vstream cannot restore (other format, other stages)."""


def pack_state(state: dict, *, level: int = 1) -> bytes:
    """`state` (plain data) as snapshot bytes. zlib level 1: the rings of frames and features
    compress ~3x, and a state is saved per stream at every batch of the worker. Level 0 stores
    (for a state whose bulk is another snapshot, already compressed)."""
    body = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    return _SNAPSHOT_PREFIX.pack(SNAPSHOT_MAGIC, SNAPSHOT_VERSION) + zlib.compress(body, level)


def unpack_state(data: bytes) -> dict:
    """The plain data of `pack_state` bytes. Only for snapshots from our own store: unpickling
    runs code named in the bytes, so they must come from where vstream wrote them."""
    if len(data) < _SNAPSHOT_PREFIX.size:
        raise SnapshotError(f"stream state snapshot too short ({len(data)} bytes)")
    magic, version = _SNAPSHOT_PREFIX.unpack_from(data)
    if magic != SNAPSHOT_MAGIC:
        raise SnapshotError(f"not a stream state snapshot (magic {magic!r})")
    if version != SNAPSHOT_VERSION:
        raise SnapshotError(f"stream state snapshot format {version}, this vstream reads "
                            f"{SNAPSHOT_VERSION}: the stream restarts with a fresh state")
    try:
        return pickle.loads(zlib.decompress(data[_SNAPSHOT_PREFIX.size :]))
    except (zlib.error, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as ex:
        raise SnapshotError(f"stream state snapshot unreadable: {ex}") from ex


def row_version(shots: str, model: FrameModel | None,
                max_scene_s: float = DEFAULT_MAX_SCENE_S) -> str:
    """What produced a row: vstream's version, the shot detector (and the maximum scene
    length, which moves the scene rows) and the frame model (with the recognizer of its faces,
    `identity_version`, which names its people)."""
    version = f"vstream-{__version__}/shots-{shots}"
    if max_scene_s:
        version += f"-max{max_scene_s:g}s"
    return f"{version}/{identity_version(model)}" if model is not None else version


def sample_every(frame_rate: float, analysis_fps: float) -> int:
    """Analyse every n-th frame: the analysis rate rounded to a whole step (at least 1)."""
    if analysis_fps <= 0:
        raise ValueError(f"analysis fps must be > 0, got {analysis_fps}")
    return max(1, round(frame_rate / analysis_fps))


@dataclass(frozen=True)
class StreamGap:
    """A live stream's hole in time, reported by ingest on the first chunk after it: the
    `stream_gap` row stored for it, and what the row has no column for (the wall-clock seconds
    the source was lost, and why)."""

    row: EventRow
    seconds: float
    reason: str


@dataclass
class StageOutput:
    """What a push completed: the frames analysed (with their tracked detections), the
    presence events decided on them, the scenes described, and the stream gaps that ended in
    it (live streams, and damaged chunks left out). `write_output` stores it."""

    frames: list[FrameRecord] = field(default_factory=list)
    events: list[PresenceEvent] = field(default_factory=list)
    scenes: list[SceneAnalysis] = field(default_factory=list)
    gaps: list[StreamGap] = field(default_factory=list)


class StreamStages:
    """Decoder, segmenter and (with a model) analyzer of one stream."""

    def __init__(self, stream_id: str, frame_rate: float, *, shots: str, model: FrameModel | None,
                 gallery: Gallery | None, analysis_fps: float = DEFAULT_ANALYSIS_FPS,
                 leave_after_s: float = DEFAULT_LEAVE_AFTER_S,
                 leave_hidden_s: float = DEFAULT_LEAVE_HIDDEN_S,
                 max_scene_s: float = DEFAULT_MAX_SCENE_S, threads: int = 0) -> None:
        self.stream_id = stream_id
        self.version = row_version(shots, model, max_scene_s)
        self.segmenter = Segmenter(make_shot_detector(shots), max_scene_s=max_scene_s)
        step = sample_every(frame_rate, analysis_fps)
        self.decoder = FfmpegDecoder(
            self.segmenter.detector.input_size, threads=threads,
            sample_size=model.frame_size if model is not None else None,
            sample_every=step if model is not None else 0,
        )
        self.analyzer = None
        if model is not None:
            if gallery is None:
                raise ValueError("a frame model needs a people gallery")
            # the trackers see one frame per step: their notion of time is the analysis rate
            self.analyzer = StreamAnalyzer(stream_id, model, gallery,
                                           analysis_fps=frame_rate / step,
                                           leave_after_s=leave_after_s,
                                           leave_hidden_s=leave_hidden_s)
        self.frames = 0
        #: (t_s, reason) of chunks left out by `skip` since the last chunk processed
        self._hole: tuple[float, str] | None = None
        #: the parts processed of the GOP being sent in parts (joined into one chunk: `part` 0,
        #: the last part's `seq`), so stages restored from a snapshot can decode its next part
        self._open_gop: GopChunk | None = None
        #: the last frame processed (-1: none yet)
        self._through = -1
        self._restored = False  # restored, and nothing decoded since

    def snapshot(self) -> bytes:
        """The stream's state at a chunk boundary (after `process`), as bytes: the segmenter
        (detector history, open scene), the analyzer (trackers, frames and scenes waiting) and
        counters. Not the models, the gallery or FFmpeg's context: a whole-GOP chunk starts at a
        keyframe and the decoder drains at its end, so a fresh context decodes the next chunk
        exactly as the old one would; of a GOP sent in parts, the parts processed are kept, which
        a fresh decoder decodes again before the next part (`FfmpegDecoder.resume`)."""
        return pack_state({
            "stream_id": self.stream_id, "version": self.version, "frames": self.frames,
            "open_gop": self._open_gop.to_bytes() if self._open_gop is not None else None,
            "through": self._through,
            "decoder": (self.decoder.frames_decoded, self.decoder.frames_missing),
            "segmenter": self.segmenter.state(),
            "analyzer": self.analyzer.state() if self.analyzer is not None else None,
            "hole": self._hole,
        })

    @classmethod
    def restore(cls, data: bytes, frame_rate: float, *, shots: str, model: FrameModel | None,
                gallery: Gallery | None, analysis_fps: float = DEFAULT_ANALYSIS_FPS,
                leave_after_s: float = DEFAULT_LEAVE_AFTER_S,
                leave_hidden_s: float = DEFAULT_LEAVE_HIDDEN_S,
                max_scene_s: float = DEFAULT_MAX_SCENE_S, threads: int = 0) -> StreamStages:
        """Stages that continue the stream `snapshot()` was taken from. The arguments are those
        a new stream gets (the shared model and gallery are attached, never unpickled); they
        must make the same row version as the snapshot's, else SnapshotError."""
        state = unpack_state(data)
        stages = cls(state["stream_id"], frame_rate, shots=shots, model=model, gallery=gallery,
                     analysis_fps=analysis_fps, leave_after_s=leave_after_s,
                     leave_hidden_s=leave_hidden_s, max_scene_s=max_scene_s, threads=threads)
        if state["version"] != stages.version:
            raise SnapshotError(f"stream {state['stream_id']}: the snapshot was made by "
                                f"{state['version']}, these stages are {stages.version}")
        if (state["analyzer"] is None) != (stages.analyzer is None):
            raise SnapshotError(f"stream {state['stream_id']}: snapshot and stages disagree "
                                "on the frame model")
        stages.frames = int(state["frames"])
        if state.get("open_gop") is not None:  # .get: a state saved before GOPs in parts
            stages._open_gop = GopChunk.from_bytes(state["open_gop"])
        stages._through = int(state.get("through", -1))
        stages._restored = True
        stages.decoder.frames_decoded, stages.decoder.frames_missing = state["decoder"]
        stages.segmenter.load_state(state["segmenter"])
        stages._hole = state["hole"]
        if stages.analyzer is not None:
            stages.analyzer.load_state(state["analyzer"])
        return stages

    def decode(self, chunk: GopChunk) -> tuple[FrameBatch, FrameBatch | None]:
        """Every frame at the shot detector's size, and the analysis-rate samples. The part of a
        GOP whose earlier parts these stages processed before a restore is decoded after them
        (`FfmpegDecoder.resume`)."""
        if self._restored:
            # Only the first decode after a restore: later the decoder runs ahead of `process`
            # (the worker decodes ahead on a thread), and `_open_gop` lags behind it.
            self._restored = False
            opened = self._open_gop
            if opened is not None and (not chunk.continues or opened.seq == chunk.seq - 1):
                self.decoder.resume(opened, self._through)  # a new GOP drains its frames first
        return self.decoder.decode_sampled(chunk)

    @property
    def pipelined(self) -> bool:
        """Whether `analyse` should run on a thread of its own (`FrameModel.pipelined`)."""
        return self.analyzer is not None and self.analyzer.model.pipelined

    def analyse(self, samples: FrameBatch | None) -> ModelPass | None:
        """The frame model's pass over a chunk's samples (`StreamAnalyzer.run_model`). It reads
        no state of the stream, so the drivers can run it on a thread of its own (`pipelined`),
        between the decode-ahead thread and `process`: the network works on one chunk while the
        next is decoded and the one before is tracked."""
        if self.analyzer is None or samples is None:
            return None
        return self.analyzer.run_model(samples)

    def process(self, batch: FrameBatch, samples: FrameBatch | ModelPass | None,
                chunk: GopChunk | None = None) -> StageOutput:
        """Feed one chunk's decoded frames on; return the rows they completed. `chunk`, the
        chunk they were decoded from, is needed only for what it carries besides frames: a
        stream gap (`GopChunk.gap_s`, or chunks left out by `skip` before it) becomes a
        `stream_gap` event at its first frame."""
        out = StageOutput()
        if chunk is not None:
            out.gaps = self._gap(chunk)
        if self.analyzer is not None and samples is not None:
            observed = self.analyzer.observe(samples)
            out.frames, out.events = observed.frames, observed.events
        closed = self.segmenter.push(batch)
        self.frames += len(batch)
        if len(batch):
            self._through = max(self._through, int(batch.frame_index[-1]))
        if chunk is not None:
            self._open_gop = self._gop_after(chunk)
        out.scenes = self._describe(closed)
        return out

    def _gop_after(self, chunk: GopChunk) -> GopChunk | None:
        """The parts of the open GOP once `chunk` is processed (None: no GOP open in parts)."""
        if chunk.part == 0:
            return dataclasses.replace(chunk, gap_s=None, gap_reason=None)
        opened = self._open_gop
        if chunk.continues and opened is not None and opened.seq == chunk.seq - 1:
            return dataclasses.replace(opened, seq=chunk.seq, packets=opened.packets + chunk.packets)
        return None

    def skip(self, chunk: GopChunk, reason: str) -> None:
        """Leave out `chunk` (its data is damaged: it cannot be decoded). Its frames are lost,
        the frames after it keep their numbers, and the next chunk processed marks where video
        resumes with a `stream_gap` event (its gap_s: the media seconds lost; `reason`, one
        line, says why), as a live stream's gap is marked."""
        if self._hole is None:  # a run of skipped chunks is one hole, from its first chunk
            self._hole = (chunk.start_s, " ".join(reason.split()))
        self._open_gop = None  # the parts after it cannot be decoded either

    def push(self, chunk: GopChunk) -> StageOutput:
        """Decode and process one chunk."""
        return self.process(*self.decode(chunk), chunk)

    def finish(self) -> StageOutput:
        """End of stream: the last frames of a GOP sent in parts, then close the last scene and
        describe everything left."""
        last = self._last_frames()
        described = last.scenes + self._describe(self.segmenter.finish())
        if self.analyzer is None:
            return StageOutput(frames=last.frames, events=last.events, scenes=described)
        observed, rest = self.analyzer.finish()
        return StageOutput(frames=last.frames, events=last.events + observed.events,
                           scenes=described + rest)

    def _last_frames(self) -> StageOutput:
        """Process what the decoder still holds of a GOP sent in parts (a B-frame stream's
        last frames), resuming it first if these stages were restored."""
        opened = self._open_gop
        if opened is not None and self._restored:
            self._restored = False
            try:
                self.decoder.resume(opened, self._through)
            except DecodeError as ex:
                log.warning("stream %s: %s", self.stream_id, ex)
                return StageOutput()
        held = self.decoder.drain()
        self._open_gop = None
        return self.process(*held) if held is not None else StageOutput()

    def _gap(self, chunk: GopChunk) -> list[StreamGap]:
        """The `stream_gap` event of `chunk`, if video resumes with it after a hole: one a live
        source reported (`gap_s`), or chunks left out by `skip`. `people` is the number in
        view when the video stopped (0 without a frame model)."""
        if chunk.gap_s is not None:
            seconds, reason = float(chunk.gap_s), chunk.gap_reason or ""
        elif self._hole is not None:
            lost_from, reason = self._hole
            seconds = max(0.0, chunk.start_s - lost_from)
        else:
            return []
        self._hole = None
        people = len(self.analyzer.presence.in_view) if self.analyzer is not None else 0
        row = EventRow(stream_id=self.stream_id, frame=chunk.first_frame, t_s=chunk.start_s,
                       kind=STREAM_GAP, person_id="", people=people, model_version=self.version)
        return [StreamGap(row, seconds, reason)]

    def _describe(self, closed: list[Scene]) -> list[SceneAnalysis]:
        """Closed scenes, described once their frames are analysed (as they are without a model)."""
        if self.analyzer is None:
            return [SceneAnalysis(s, [], []) for s in closed]
        return self.analyzer.describe(closed)


def load_gallery(store, model: FrameModel | None, threshold: float | None,
                 learn: float | None = None) -> PeopleGallery | None:
    """The people gallery of `model` as stored (None without a model), matching at `threshold`
    and learning from matches at `learn` (`PeopleGallery`)."""
    if model is None or threshold is None:
        return None
    version = identity_version(model)
    gallery = PeopleGallery(version, threshold, learn_threshold=learn)
    gallery.load(stored_people(store.people(version)))
    return gallery


def remember_people(stages: StreamStages, store, from_frame: int = 0) -> None:
    """Give the stream's tracks stored from `from_frame` on (in `tracks` rows and `enter`
    events) their stored person IDs again (see `TrackIdentities.known`)."""
    if stages.analyzer is None:
        return
    known = {t.track_id: t.person_id
             for t in store.tracks_of(stages.stream_id, stages.version) if t.first_frame >= from_frame}
    known.update((e.track_id, e.person_id)
                 for e in store.events_of(stages.stream_id, stages.version)
                 if e.kind == ENTER and e.frame >= from_frame)
    stages.analyzer.identities.known = known


def write_output(store, stream_id: str, version: str, out: StageOutput,
                 gallery: Gallery | None) -> int:
    """Write one push's rows (idempotent: rows already stored are skipped) and the gallery's
    changed people; return the new rows. Scenes go last, so a stored scene row means its
    tracks and events are stored too."""
    new = store.write_detections(detection_rows(stream_id, version, out.frames))
    new += store.write_events(event_rows(stream_id, version, out.events) + [g.row for g in out.gaps])
    if out.scenes:
        tracks = []
        for a in out.scenes:
            tracks += track_rows(stream_id, version, a.scene.index, a.tracklets)
        new += store.write_tracks(tracks)
        new += store.write_scenes(scene_rows(stream_id, version, [a.scene for a in out.scenes]))
    if gallery is not None:
        people = gallery.people()
        if people:
            store.write_people(person_rows(people))
    return new
