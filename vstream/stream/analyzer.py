"""`StreamAnalyzer`: the analysis of one stream, between the decoder and the store.

Sampled frames (at the analysis rate) go through the frame model in batches; detections are
tracked (one ByteTracker per class, sharing one ID counter, appearance-gated by the model's
embeddings); each face and body track is identified as soon as it has enough evidence
(`TrackIdentities`) and the people in view give live enter, leave and count events
(`PresenceTracker`), so a fixed camera whose scene never closes still reports who comes and
goes within seconds. When the segmenter closes a scene, the tracks inside it are cut into
tracklets, which carry their track's person, and the scene is described. Shots run on every
frame; only the network runs at the analysis rate, and tracks carry identities between
analysed frames.

What it returns is domain objects (analysed frames, presence events, described scenes with
their tracklets and story); `vstream.store.analysis_rows` makes the rows.

Both drivers use it: `vstream.drivers.index` (files) and `vstream.kafka.worker` (Kafka).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

from vstream.decode.frames import FrameBatch
from vstream.describe.scene_story import SceneEvent, describe, moves
from vstream.detect.analysis import EMBED_DIM, FrameAnalysis, FrameModel
from vstream.detect.labels import ANALYSIS_SIZE, CLASS_NAMES, FACE, PERSON
from vstream.detect.person_faces import person_face_rows
from vstream.detections import Detections
from vstream.segment.scenes import Scene
from vstream.track.body_appearance import body_appearance
from vstream.track.byte_tracker import ByteTracker, IdCounter
from vstream.track.cut_gate import CutGate
from vstream.track.gallery import Gallery
from vstream.track.presence import (DEFAULT_LEAVE_AFTER_S, DEFAULT_LEAVE_HIDDEN_S, PresenceEvent,
                                    PresenceTracker)
from vstream.track.track_identities import TrackIdentities
from vstream.track.tracklets import FrameRecord, Tracklet, build_tracklets

#: most frames per forward pass (a push's last batch holds the frames left, so that no frame
#: waits for the next chunk: events stay within seconds of the frame)
BATCH = 16
#: body tracks are associated by clothing colour (`body_appearance`): a pair less alike than
#: cosine 0.7 is never joined, and a body lost behind something (ByteTrack lets a track go
#: after 1 s) is found again by its colours for 3 s near where it was walking. Chosen on the
#: first 30 s of vtest.avi's hand-made identity labels, held out on the next 30 s
#: (docs/models.md, "Body tracks on a fixed camera").
BODY_TRACKING = {"appearance_thresh": 0.15, "refind_seconds": 3.0, "refind_thresh": 0.2}


#: one frame model pass at a time in a process: a worker's streams share one model, and a
#: stream's last frames (`StreamStages.finish`) go through it on the stream's thread while the
#: model's thread may be passing another stream's chunk
_MODEL_LOCK = threading.Lock()


def _score_thresholds(model: FrameModel, class_id: int) -> dict[str, float]:
    """ByteTracker's score options for the model's detections of `class_id`."""
    if class_id not in model.track_thresholds:
        return {}
    track, new = model.track_thresholds[class_id]
    return {"track_thresh": track, "new_track_thresh": new, "low_thresh": min(0.1, track)}


@dataclass
class Observed:
    """What analysing some frames gave: the frames with their tracked detections, and the
    presence events decided on them."""

    frames: list[FrameRecord] = field(default_factory=list)
    events: list[PresenceEvent] = field(default_factory=list)


@dataclass(frozen=True)
class _Batch:
    """One forward pass: its frames (index, seconds, image) and what the model saw in them."""

    frames: list[tuple[int, float, np.ndarray]]
    results: list[FrameAnalysis]
    tag_scores: list


@dataclass(frozen=True)
class ModelPass:
    """Analysis-rate frames through the frame model (`StreamAnalyzer.run_model`), not yet
    tracked: made apart from the stream's state, so a driver can make it on a thread of its own
    while the stream's thread tracks the chunk before (`FrameModel.pipelined`)."""

    batches: list[_Batch]


@dataclass(frozen=True)
class SceneAnalysis:
    """A described scene, its identified tracklets and its story's events (by frame)."""

    scene: Scene
    tracklets: list[Tracklet]
    events: list[SceneEvent]


class StreamAnalyzer:
    """Frame model, trackers, people gallery and scene stories for one stream.

    `observe(samples)` with the analysis-rate frames in stream order (analyses them all and
    returns them, with their tracked detections, and the presence events they decided);
    `describe(scenes)` with the scenes the segmenter closed (returns the described ones, in
    order, once all their frames are analysed); `finish()` at the end.
    """

    def __init__(self, stream_id: str, model: FrameModel, gallery: Gallery, *,
                 analysis_fps: float, batch_size: int = BATCH,
                 leave_after_s: float = DEFAULT_LEAVE_AFTER_S,
                 leave_hidden_s: float = DEFAULT_LEAVE_HIDDEN_S) -> None:
        self.stream_id = stream_id
        self.model = model
        self.batch_size = batch_size
        # one counter: a track ID names one track of any class
        self._ids = IdCounter()
        self._trackers = {c: ByteTracker(frame_rate=analysis_fps, id_counter=self._ids,
                                         **_score_thresholds(model, c),
                                         **(BODY_TRACKING if c == PERSON else {}))
                          for c in range(len(CLASS_NAMES))}
        self._cut_gate = CutGate()
        self._records: deque[FrameRecord] = deque()
        self._scenes: deque[Scene] = deque()
        self._analysed_until = -1
        self._tagger = None
        self.frames_analysed = 0
        self.identities = TrackIdentities(stream_id, gallery)
        self.presence = PresenceTracker(leave_after_s, leave_hidden_s)

    @property
    def tag_names(self) -> tuple[str, ...]:
        from vstream.detect.tag_map import default_tag_map

        return default_tag_map().tags

    def run_model(self, samples: FrameBatch) -> ModelPass:
        """The frame model on analysis-rate frames (at the model's `frame_size` of their
        source), in batches of at most `batch_size` frames of one size (a live source may
        change resolution). Reads and changes no state of the stream, so the drivers can run it
        on a thread of its own (`StreamStages.analyse`): the network works on the next chunk
        while `observe` tracks this one (onnxruntime releases the GIL)."""
        frames = list(zip(samples.frame_index.tolist(), samples.seconds().tolist(), samples.images))
        batches, start = [], 0
        while start < len(frames):
            shape, end = frames[start][2].shape, start + 1
            while end < min(len(frames), start + self.batch_size) and frames[end][2].shape == shape:
                end += 1
            batches.append(self._run_batch(frames[start:end]))
            start = end
        return ModelPass(batches)

    def observe(self, samples: FrameBatch | ModelPass) -> Observed:
        """Track, identify and count the people of analysis-rate frames, in stream order
        (`run_model` first, here, if they have not been through the model)."""
        if isinstance(samples, FrameBatch):
            samples = self.run_model(samples)
        observed = Observed()
        for batch in samples.batches:
            self._take(batch, observed)
        return observed

    def describe(self, scenes: list[Scene]) -> list[SceneAnalysis]:
        """Take closed scenes; return those whose frames are all analysed, described."""
        self._scenes.extend(scenes)
        out = []
        while self._scenes and self._scenes[0].end_frame <= self._analysed_until:
            out.append(self._describe(self._scenes.popleft()))
        return out

    def oldest_pending_frame(self) -> int:
        """The first frame whose tracklets are not yet described (its scene is still open)."""
        if self._records:
            return self._records[0].frame_index
        return self._analysed_until + 1

    def finish(self) -> tuple[Observed, list[SceneAnalysis]]:
        """End of stream: everyone in view leaves; describe every scene left."""
        observed = Observed(events=self.presence.finish())
        self._analysed_until = 1 << 62
        return observed, self.describe([])

    def state(self) -> dict:
        """The stream's analysis state as plain data, for a checkpoint at a chunk boundary:
        trackers and their ID counter, analysed frames waiting for their scene, closed scenes
        waiting for their frames (`observe` leaves no frame half done). Never the model or the
        gallery (shared; `load_state` keeps this analyzer's)."""
        import copy

        return {"next_id": self._ids.value,
                "trackers": {c: t.state() for c, t in self._trackers.items()},
                "cut_gate": self._cut_gate.state(),
                "identities": self.identities.state(), "presence": self.presence.state(),
                "records": copy.deepcopy(list(self._records)),
                "scenes": list(self._scenes),
                "analysed_until": self._analysed_until,
                "frames_analysed": self.frames_analysed}

    def load_state(self, state: dict) -> None:
        """Continue the stream `state()` was taken from (same model and settings)."""
        import copy

        self._ids.value = int(state["next_id"])
        for c, tracker_state in state["trackers"].items():
            self._trackers[c].load_state(tracker_state)
        self._cut_gate.load_state(state["cut_gate"])
        self.identities.load_state(state["identities"])
        self.presence.load_state(state["presence"])
        self._records = deque(copy.deepcopy(state["records"]))
        self._scenes = deque(state["scenes"])
        self._analysed_until = int(state["analysed_until"])
        self.frames_analysed = int(state["frames_analysed"])

    # -- analysis ---------------------------------------------------------------------------

    def _run_batch(self, frames: list[tuple[int, float, np.ndarray]]) -> _Batch:
        images = np.stack([image for _, _, image in frames])
        with _MODEL_LOCK:
            results = self.model.analyze(images)
            tag_scores = [r.tag_scores for r in results]
            if any(s is None for s in tag_scores):  # a model without a tag head (the teachers)
                tag_scores = list(self._frame_tagger().scores(images))
        return _Batch(frames, results, tag_scores)

    def _take(self, batch: _Batch, observed: Observed) -> None:
        """Track, identify and count the people of one batch, in frame order."""
        height, width = batch.frames[0][2].shape[:2]
        for (idx, t, image), result, tags in zip(batch.frames, batch.results, batch.tag_scores):
            cut = self._cut_gate.is_cut(image)
            if cut:  # a new shot: no track continues into it
                for tracker in self._trackers.values():
                    tracker.reset()
            tracked = self._track(result.detections, result.low_detections, image)
            record = FrameRecord(idx, t, self._identify(tracked, image),
                                 (width, height), np.asarray(tags, np.float32))
            observed.frames.append(record)
            observed.events += self.presence.update(idx, t, self.identities.observe(record, cut), cut)
            self._records.append(record)
            self._analysed_until = idx
        self.frames_analysed += len(batch.frames)

    def _track(self, detections: Detections, low: Detections | None, image: np.ndarray) -> Detections:
        """All detections of the frame, with tracker_id set where a confirmed track took them,
        and the `low` ones (`FrameAnalysis.low_detections`) a track took: ByteTrack's second
        association, which carries a walker half hidden behind another; the other low ones go.

        Faces are associated by their identity embedding; bodies by their clothing colour
        (`body_appearance`): a body's identity embedding is its face's, absent (zero) wherever
        the face is too small to see, which on a fixed camera is nearly everyone."""
        both = detections if low is None or not len(low) else Detections.merge([detections, low])
        n = len(detections)
        tracker_id = np.full(len(both), -1, np.int64)
        for class_id, tracker in self._trackers.items():
            rows = np.flatnonzero(both.class_id == class_id)
            mine = both[rows]
            appearance = (body_appearance(image, mine.xyxy) if class_id == PERSON
                          else mine.embedding)
            mine = Detections(mine.xyxy, mine.confidence, mine.class_id, None, appearance,
                              {"row": rows})
            kept = tracker.update(mine)
            tracker_id[kept.data["row"]] = kept.tracker_id
        keep = np.concatenate([np.arange(n), n + np.flatnonzero(tracker_id[n:] >= 0)])
        return both[keep].with_tracker_id(tracker_id[keep])

    def _identify(self, detections: Detections, image: np.ndarray) -> Detections:
        """The frame's tracked detections with identity vectors, for a model whose faces are
        identified by a recognizer of their own (`FrameModel.face_identity`): the faces of the
        tracks not identified yet get theirs, a person box carrying such a face gets the
        face's (`person_face_rows`), every other row none (zero), so that the gallery only
        ever compares the recognizer's vectors. One face track needs two or so; the rest of its
        faces cost nothing."""
        recognizer = self.model.face_identity
        if recognizer is None:
            return detections
        d = detections
        embedding = np.zeros((len(d), EMBED_DIM), np.float32)
        faces = [i for i in np.flatnonzero((d.class_id == FACE) & (d.tracker_id >= 0))
                 if self.identities.wants_identity(int(d.tracker_id[i]))]
        if faces:
            faces = np.array(faces)
            embedding[faces] = recognizer.embed(image, d.xyxy[faces])
            persons = np.flatnonzero(d.class_id == PERSON)
            rows = person_face_rows(d.xyxy[faces], d.xyxy[persons])
            embedding[persons[rows >= 0]] = embedding[faces[rows[rows >= 0]]]
        return Detections(d.xyxy, d.confidence, d.class_id, d.tracker_id, embedding, d.data,
                          d.metadata)

    def _frame_tagger(self):
        if self._tagger is None:
            from vstream.detect.tags import FrameTagger

            # the frame at the model's size, but no larger than the analysis area, where the
            # tags were judged
            width, height = ANALYSIS_SIZE
            self._tagger = FrameTagger(size=None, batch_size=self.batch_size,
                                       max_area=width * height)
        return self._tagger

    # -- scenes -----------------------------------------------------------------------------

    def _describe(self, scene: Scene) -> SceneAnalysis:
        records = []
        while self._records and self._records[0].frame_index <= scene.end_frame:
            records.append(self._records.popleft())
        if not records:  # shorter than the analysis step: the nearest analysed frame's tags
            nearest = self._records[0] if self._records else None
            records_for_tags = [nearest] if nearest is not None else []
        else:
            records_for_tags = records
        tracklets = build_tracklets(records)
        for t in tracklets:
            t.person_id = self.identities.person_of(t.track_id)
        live = {t.track_id for tracker in self._trackers.values() for t in tracker.tracks}
        self.identities.forget(live, before_frame=self.oldest_pending_frame())
        story = describe(scene.start_s, scene.end_s, tracklets, records, self.tag_names)
        tags = story.tags or describe(scene.start_s, scene.end_s, [], records_for_tags,
                                      self.tag_names).tags
        described = replace(scene, tags=tags, people=story.people, description=story.description,
                            moves=moves(story.events, scene.start_s, scene.end_s))
        return SceneAnalysis(described, tracklets, list(story.events))
