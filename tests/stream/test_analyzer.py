"""StreamAnalyzer with frames of whatever size the model asked the decoder for."""

from __future__ import annotations

import copy
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from vstream.decode.frames import FrameBatch
from vstream.detect.analysis import EMBED_DIM, FrameAnalysis, identity_version
from vstream.detect.face_identity import FaceIdentity
from vstream.detect.labels import FACE, PERSON
from vstream.detect.models import MATCH_THRESHOLDS, load_frame_model
from vstream.detections import Detections
from vstream.ingest.chunker import Chunker
from vstream.stream.analyzer import StreamAnalyzer
from vstream.stream.stages import StreamStages
from vstream.track.gallery import PeopleGallery
from vstream.weights import test_video_path


class ShapeRecordingModel:
    """A frame model that finds nothing and remembers the shape of every batch."""

    model_version = "test"
    input_size = (384, 224)
    track_thresholds: dict = {}
    face_identity = None
    pipelined = False

    def __init__(self) -> None:
        self.batches: list[tuple[int, ...]] = []

    def frame_size(self, width: int, height: int) -> tuple[int, int]:
        return width, height

    def analyze(self, images: np.ndarray) -> list[FrameAnalysis]:
        self.batches.append(images.shape)
        return [FrameAnalysis(Detections.empty(EMBED_DIM), tag_scores=np.zeros(1, np.float32))
                for _ in images]


def frames(first: int, n: int, width: int, height: int) -> FrameBatch:
    index = np.arange(first, first + n, dtype=np.int64)
    return FrameBatch("s", np.zeros((n, height, width, 3), np.uint8), index, index, Fraction(1, 10))


def test_a_batch_holds_frames_of_one_size_and_records_keep_their_size() -> None:
    model = ShapeRecordingModel()
    analyzer = StreamAnalyzer("s", model, PeopleGallery("test", 0.5), analysis_fps=5.0, batch_size=4)
    first = analyzer.observe(frames(0, 3, 768, 576))  # a camera at its own 4:3 size
    second = analyzer.observe(frames(3, 3, 640, 360))  # the source changed resolution
    records = first.frames + second.frames
    assert model.batches == [(3, 576, 768, 3), (3, 360, 640, 3)]
    assert [r.size for r in records] == [(768, 576)] * 3 + [(640, 360)] * 3
    assert [r.frame_index for r in records] == list(range(6))


def test_every_frame_of_a_push_is_analysed_in_that_push() -> None:
    """No frame waits for a later chunk to fill a batch: a live event must not wait for the
    next chunk."""
    model = ShapeRecordingModel()
    analyzer = StreamAnalyzer("s", model, PeopleGallery("test", 0.5), analysis_fps=5.0, batch_size=4)
    observed = analyzer.observe(frames(0, 6, 64, 48))
    assert [r.frame_index for r in observed.frames] == list(range(6))
    assert [b[0] for b in model.batches] == [4, 2]


def test_the_model_pass_is_a_step_of_its_own_between_decoding_and_tracking() -> None:
    """`StreamStages.analyse` puts a chunk's samples through the frame model; `decode` before it
    and `process` after it ask the model nothing. So a driver can give each its own thread: the
    network works on one chunk while the next is decoded and the one before is tracked."""
    model = ShapeRecordingModel()
    chunks = list(Chunker(str(test_video_path()), "s"))[:3]
    stages = StreamStages("s", float(chunks[0].frame_rate), shots="fast", model=model,
                          gallery=PeopleGallery("test", 0.5))
    analysed = []
    for chunk in chunks:
        passes = len(model.batches)
        batch, samples = stages.decode(chunk)
        assert len(model.batches) == passes
        passed = stages.analyse(samples)
        assert len(model.batches) > passes
        passes = len(model.batches)
        out = stages.process(batch, passed, chunk)
        assert len(model.batches) == passes
        analysed += [r.frame_index for r in out.frames]
    analysed += [r.frame_index for r in stages.finish().frames]  # frames the decoder held back
    # every fifth frame of the 25 fps video (5 analysed a second), in order, each once
    assert analysed == list(range(0, chunks[-1].first_frame + chunks[-1].frame_count, 5))


class OnePersonModel(ShapeRecordingModel):
    """A frame model that finds one person in the same place in every frame."""

    def analyze(self, images: np.ndarray) -> list[FrameAnalysis]:
        box = np.array([[20.0, 10.0, 44.0, 46.0]], np.float32)
        return [FrameAnalysis(Detections(box, np.array([0.9], np.float32), np.array([PERSON]),
                                         embedding=np.zeros((1, EMBED_DIM), np.float32)),
                              tag_scores=np.zeros(1, np.float32)) for _ in images]


def test_no_track_runs_on_from_one_shot_into_the_next() -> None:
    # Two shots whose person stands in the same place: box overlap alone would make them one
    # track (and one person); the new picture ends every track.
    rng = np.random.default_rng(0)
    dark = rng.integers(0, 60, (4, 48, 64, 3), dtype=np.uint8)
    bright = rng.integers(180, 255, (4, 48, 64, 3), dtype=np.uint8)
    batch = frames(0, 8, 64, 48)
    batch = FrameBatch("s", np.concatenate([dark, bright]), batch.frame_index, batch.pts,
                       batch.time_base)
    analyzer = StreamAnalyzer("s", OnePersonModel(), PeopleGallery("test", 0.5), analysis_fps=5.0)
    ids = [int(r.detections.tracker_id[0]) for r in analyzer.observe(batch).frames]
    first, second = ids[1], ids[5]  # a track is confirmed on its second frame
    assert first > 0 and second > 0 and first != second
    assert set(ids[1:4]) == {first} and set(ids[5:]) == {second}


class CountingIdentity:
    """The real face recognizer, counting the faces it is asked to embed."""

    def __init__(self) -> None:
        self.recognizer = FaceIdentity()
        self.model_version = self.recognizer.model_version
        self.faces = 0

    def embed(self, image: np.ndarray, boxes: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        self.faces += len(boxes)
        return self.recognizer.embed(image, boxes, landmarks)


def test_a_face_track_is_embedded_until_it_is_identified() -> None:
    """The unified network's faces get SFace vectors after tracking, only while their track is
    not identified: a face on screen for ten frames costs two or three, not ten."""
    model = copy.copy(load_frame_model("unified"))
    model.face_identity = counting = CountingIdentity()
    with av.open(str(test_video_path())) as container:
        singer = next(f for i, f in enumerate(container.decode(video=0)) if i == 636)
    image = cv2.resize(singer.to_ndarray(format="rgb24"), model.frame_size(160, 90),
                       interpolation=cv2.INTER_AREA)
    n = 10
    index = np.arange(n, dtype=np.int64)
    batch = FrameBatch("s", np.repeat(image[None], n, axis=0), index, index, Fraction(1, 5))
    gallery = PeopleGallery(identity_version(model), MATCH_THRESHOLDS["unified"])
    analyzer = StreamAnalyzer("s", model, gallery, analysis_fps=5.0)
    records = analyzer.observe(batch).frames
    faces = [r.detections[r.detections.class_id == FACE] for r in records]
    assert all(len(f) == 1 for f in faces), "the singer's face on every frame"
    tracked = [int(f.tracker_id[0]) for f in faces]
    assert tracked[-1] > 0 and len(set(tracked[1:])) == 1
    assert analyzer.identities.person_of(tracked[-1]) == "p1"
    assert 2 <= counting.faces <= 3
    # after the decision the face's rows carry no vector: nothing more was asked
    assert not np.any(faces[-1].embedding)
    assert gallery.person_ids == ["p1"]


class DimmingPersonModel(ShapeRecordingModel):
    """A walker found clearly (0.9) except on frames 4-6, where something half hides him and he
    scores 0.3, below the model's threshold: reported among the low detections only. A second,
    faint box (0.2) that nobody was tracking appears as a low detection throughout."""

    track_thresholds = {PERSON: (0.5, 0.6)}

    def __init__(self) -> None:
        super().__init__()
        self.frame = 0

    def analyze(self, images: np.ndarray) -> list[FrameAnalysis]:
        out = []
        for _ in images:
            walker = np.array([[20.0 + self.frame, 10.0, 44.0 + self.frame, 46.0]], np.float32)
            faint = np.array([[2.0, 2.0, 12.0, 30.0]], np.float32)
            hidden = 4 <= self.frame <= 6
            high = Detections.empty(EMBED_DIM) if hidden else Detections(
                walker, np.array([0.9], np.float32), np.array([PERSON]), embedding=np.zeros((1, EMBED_DIM), np.float32))
            low_boxes = np.concatenate([walker, faint]) if hidden else faint
            low = Detections(low_boxes, np.array([0.3, 0.2][:len(low_boxes)] if hidden else [0.2], np.float32),
                             np.full(len(low_boxes), PERSON), embedding=np.zeros((len(low_boxes), EMBED_DIM), np.float32))
            out.append(FrameAnalysis(high, tag_scores=np.zeros(1, np.float32), low_detections=low))
            self.frame += 1
        return out


def test_a_half_hidden_walker_keeps_his_track_through_his_low_scores() -> None:
    """ByteTrack's second association: a tracked walker whose score dips below the threshold is
    still stored, with his track; a low box no track wants is never stored."""
    analyzer = StreamAnalyzer("s", DimmingPersonModel(), PeopleGallery("test", 0.5), analysis_fps=5.0)
    records = analyzer.observe(frames(0, 10, 64, 48)).frames
    counts = [len(r.detections) for r in records]
    ids = [set(r.detections.tracker_id.tolist()) for r in records]
    assert counts == [1] * 10, counts  # the walker on every frame, the faint box on none
    walker = next(iter(ids[2]))
    assert walker > 0 and all(i == {walker} for i in ids[2:])
    assert [float(r.detections.confidence[0]) for r in records[4:7]] == pytest.approx([0.3] * 3)
