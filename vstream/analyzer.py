"""`StreamAnalyzer`: the analysis of one stream, between the decoder and the store.

Sampled frames (at the analysis rate) go through the frame model in batches; detections are
tracked (one ByteTracker per class, sharing one ID counter, appearance-gated by the model's
embeddings); when the segmenter closes a scene, the tracks inside it are cut into tracklets,
identified against the people gallery and described. Shots run on every frame; only the
network runs at the analysis rate, and tracks carry identities between analysed frames.

What it returns is domain objects (analysed frames, described scenes with their tracklets and
story events); `vstream.store.analysis_rows` makes the rows.

Both drivers use it: `vstream.pipeline` (files) and `vstream.worker` (Kafka).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace

import numpy as np

from vstream.decode.frames import FrameBatch
from vstream.describe.scene_story import SceneEvent, describe, moves
from vstream.detect.analysis import FrameModel
from vstream.detect.labels import CLASS_NAMES, FACE, PERSON
from vstream.detections import Detections
from vstream.segment.scenes import Scene
from vstream.track.byte_tracker import ByteTracker, IdCounter
from vstream.track.gallery import PeopleGallery
from vstream.track.tracklets import FrameRecord, Tracklet, build_tracklets, containment

#: frames per forward pass: full batches keep oneDNN on one set of kernels
BATCH = 16
#: a face tracklet needs this many detections to found a new person (one frame is too little
#: evidence: a false face would become a person); a body-only tracklet needs BODY_MIN
FACE_MIN, BODY_MIN = 2, 4
#: a body tracklet inherits the identity of a face tracklet whose centre lies in it this often
FACE_IN_BODY = 0.5


@dataclass(frozen=True)
class SceneAnalysis:
    """A described scene, its identified tracklets and its story's events (by frame)."""

    scene: Scene
    tracklets: list[Tracklet]
    events: list[SceneEvent]


class StreamAnalyzer:
    """Frame model, trackers, people gallery and scene stories for one stream.

    `observe(samples)` with the analysis-rate frames in stream order (returns the frames it
    analysed, with their tracked detections); `describe(scenes)` with the scenes the
    segmenter closed (returns the described ones, in order, once all their frames are
    analysed); `finish()` at the end.
    """

    def __init__(self, stream_id: str, model: FrameModel, gallery: PeopleGallery, *,
                 analysis_fps: float, batch_size: int = BATCH) -> None:
        self.stream_id = stream_id
        self.model = model
        self.gallery = gallery
        self.batch_size = batch_size
        # one counter: a track ID names one track of any class
        self._ids = IdCounter()
        self._trackers = {c: ByteTracker(frame_rate=analysis_fps, id_counter=self._ids)
                          for c in range(len(CLASS_NAMES))}
        self._pending: list[tuple[int, float, np.ndarray]] = []
        self._records: deque[FrameRecord] = deque()
        self._scenes: deque[Scene] = deque()
        self._analysed_until = -1
        self._tagger = None
        self.frames_analysed = 0
        #: person IDs already stored for tracklets of this stream, by (first frame, track ID):
        #: a re-index or a replay after a crash gives a stored tracklet its stored identity
        #: instead of asking a gallery that has learnt since (which could answer differently)
        self.known_people: dict[tuple[int, int], str] = {}

    @property
    def tag_names(self) -> tuple[str, ...]:
        from vstream.detect.tags import default_tag_map

        return default_tag_map().tags

    def observe(self, samples: FrameBatch) -> list[FrameRecord]:
        """Queue analysis-rate frames (at the model's `frame_size` of their source); analyse
        full batches. Returns the frames analysed."""
        for idx, t, image in zip(samples.frame_index.tolist(), samples.seconds().tolist(),
                                 samples.images):
            self._pending.append((idx, t, image))
        analysed: list[FrameRecord] = []
        while len(self._pending) >= self.batch_size:
            analysed += self._analyse(self.batch_size)
        return analysed

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
        if self._pending:
            return self._pending[0][0]
        return self._analysed_until + 1

    def finish(self) -> tuple[list[FrameRecord], list[SceneAnalysis]]:
        """End of stream: analyse the frames left and describe every scene left."""
        analysed = []
        while self._pending:
            analysed += self._analyse(len(self._pending))
        self._analysed_until = 1 << 62
        return analysed, self.describe([])

    def state(self) -> dict:
        """The stream's analysis state as plain data, for a checkpoint at a chunk boundary:
        trackers and their ID counter, frames waiting for a batch, analysed frames waiting for
        their scene, closed scenes waiting for their frames. Never the model or the gallery
        (shared; `load_state` keeps this analyzer's)."""
        import copy

        return {"next_id": self._ids.value,
                "trackers": {c: t.state() for c, t in self._trackers.items()},
                "pending": [(idx, t, image.copy()) for idx, t, image in self._pending],
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
        self._pending = [(idx, t, image.copy()) for idx, t, image in state["pending"]]
        self._records = deque(copy.deepcopy(state["records"]))
        self._scenes = deque(state["scenes"])
        self._analysed_until = int(state["analysed_until"])
        self.frames_analysed = int(state["frames_analysed"])

    # -- analysis ---------------------------------------------------------------------------

    def _analyse(self, n: int) -> list[FrameRecord]:
        # one batch holds frames of one size (a live source may change resolution)
        shape = self._pending[0][2].shape
        n = next((i for i, (_, _, image) in enumerate(self._pending[:n]) if image.shape != shape), n)
        batch, self._pending = self._pending[:n], self._pending[n:]
        images = np.stack([image for _, _, image in batch])
        size = (images.shape[2], images.shape[1])
        results = self.model.analyze(images)
        tag_scores = [r.tag_scores for r in results]
        if any(s is None for s in tag_scores):  # a model without a tag head (the teachers)
            tag_scores = list(self._frame_tagger().scores(images))
        analysed = []
        for (idx, t, _), result, tags in zip(batch, results, tag_scores):
            analysed.append(FrameRecord(idx, t, self._track(result.detections), size,
                                        np.asarray(tags, np.float32)))
            self._analysed_until = idx
        self._records.extend(analysed)
        self.frames_analysed += len(batch)
        return analysed

    def _track(self, detections: Detections) -> Detections:
        """All detections of the frame, with tracker_id set where a confirmed track took them."""
        n = len(detections)
        tracker_id = np.full(n, -1, np.int64)
        for class_id, tracker in self._trackers.items():
            rows = np.flatnonzero(detections.class_id == class_id)
            mine = detections[rows]
            mine = Detections(mine.xyxy, mine.confidence, mine.class_id, None, mine.embedding,
                              {"row": rows})
            kept = tracker.update(mine)
            tracker_id[kept.data["row"]] = kept.tracker_id
        return detections.with_tracker_id(tracker_id)

    def _frame_tagger(self):
        if self._tagger is None:
            from vstream.detect.tags import FrameTagger

            self._tagger = FrameTagger(size=None, batch_size=self.batch_size)
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
        self._identify(tracklets, scene)
        story = describe(scene.start_s, scene.end_s, tracklets, records, self.tag_names)
        tags = story.tags or describe(scene.start_s, scene.end_s, [], records_for_tags,
                                      self.tag_names).tags
        described = replace(scene, tags=tags, people=story.people, description=story.description,
                            moves=moves(story.events, scene.start_s, scene.end_s))
        return SceneAnalysis(described, tracklets, list(story.events))

    def _identify(self, tracklets: list[Tracklet], scene: Scene) -> None:
        """Person IDs: faces from the gallery; a body from the face inside it, else from the
        gallery by its own appearance."""
        known = [t for t in tracklets if (t.first_frame, t.track_id) in self.known_people]
        for t in known:
            t.person_id = self.known_people[(t.first_frame, t.track_id)]
        faces = [t for t in tracklets if t.class_id == FACE]
        for t in faces:
            if t not in known:
                t.person_id = self.gallery.identify(
                    np.array(t.embeddings), self.stream_id, t.times[0],
                    may_create=len(t.frames) >= FACE_MIN) or ""
        for body in (t for t in tracklets if t.class_id == PERSON and t not in known):
            inside = [(containment(f, body), f) for f in faces if f.person_id]
            share, face = max(inside, key=lambda x: x[0], default=(0.0, None))
            if face is not None and share >= FACE_IN_BODY:
                body.person_id = face.person_id
            elif body.embeddings:
                body.person_id = self.gallery.identify(
                    np.array(body.embeddings), self.stream_id, body.times[0],
                    may_create=len(body.frames) >= BODY_MIN) or ""
