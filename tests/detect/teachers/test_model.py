"""TeacherModel (`--model teachers`) on real frames of the test video."""

from __future__ import annotations

import numpy as np
import pytest

from vstream.detect import labels
from vstream.detect.analysis import EMBED_DIM, FrameAnalysis
from vstream.detect.models import MATCH_THRESHOLDS
from vstream.detections import Detections
from vstream.detect.person_faces import face_coverage
from vstream.detect.person_faces import head_and_shoulders
from vstream.detect.teachers.model import TeacherModel

#: the walking man of frame 901, labelled by hand on the 384x224 frame (tight around the body)
WALKER_901 = np.array([[160, 95, 210, 224]], np.float32)


@pytest.fixture(scope="module")
def model() -> TeacherModel:
    return TeacherModel()


@pytest.fixture(scope="module")
def analysed(model: TeacherModel, teacher_frames: dict[int, np.ndarray]) -> dict[int, FrameAnalysis]:
    frames = [636, 638, 530, 901]
    return dict(zip(frames, model.analyze(np.stack([teacher_frames[i] for i in frames]))))


def test_interface() -> None:
    assert TeacherModel.model_version == "teachers-mtcnn-ssdlite-sface-3"
    assert TeacherModel.input_size == labels.ANALYSIS_SIZE == (384, 224)


@pytest.mark.parametrize(("source", "size"), [
    ((160, 90), (392, 220)),    # the test video: scaled up to the analysis area, 16:9 kept
    ((768, 576), (768, 576)),   # vtest.avi: 4:3 at its own resolution (the detector tiles it)
    ((640, 360), (640, 360)),
    ((1920, 1080), (960, 540)),  # longer side capped at MAX_SIDE
    ((384, 224), (384, 224)),
])
def test_frame_size_keeps_the_aspect_ratio(model: TeacherModel, source, size) -> None:
    assert model.frame_size(*source) == size


def test_the_smallest_face_is_a_share_of_frames_larger_than_the_analysis_area(model: TeacherModel) -> None:
    assert model.min_face_size(392, 220) == model.min_face_size(160, 90) == 16  # analysed at 392x220
    assert model.min_face_size(768, 576) == pytest.approx(16 * (768 * 576 / (384 * 224)) ** 0.5)
    assert 36 < model.min_face_size(768, 576) < 37
    with pytest.raises(ValueError, match="min_face_size"):
        model.mtcnn.detect(np.zeros((1, 64, 64, 3), np.uint8), min_face_size=8)


def test_every_frame_has_the_columns(analysed: dict[int, FrameAnalysis]) -> None:
    for result in analysed.values():
        d = result.detections
        n = len(d)
        assert result.tag_scores is None and result.person_mask is None
        assert set(np.unique(d.class_id)) <= {labels.PERSON, labels.FACE}
        assert d.embedding is not None and d.embedding.shape == (n, EMBED_DIM)
        norms = np.linalg.norm(d.embedding, axis=1)
        assert np.all((np.abs(norms - 1) < 1e-5) | (norms == 0))
        x1, y1, x2, y2 = d.xyxy.T
        assert np.all((0 <= x1) & (x1 < x2) & (x2 <= 384) & (0 <= y1) & (y1 < y2) & (y2 <= 224))


def test_faces_and_their_persons(analysed: dict[int, FrameAnalysis]) -> None:
    for i in (636, 638, 530):
        d = analysed[i].detections
        faces = np.flatnonzero(d.class_id == labels.FACE)
        persons = np.flatnonzero(d.class_id == labels.PERSON)
        assert len(faces) == 1, f"frame {i}: the singer's face"
        # a close-up: no whole body to detect, so the person is the head-and-shoulders box of
        # the face
        carrying = persons[d.data["face_row"][persons] == faces[0]]
        assert len(carrying) == 1
        p = carrying[0]
        assert face_coverage(d.xyxy[faces], d.xyxy[[p]])[0, 0] == pytest.approx(1.0)
        np.testing.assert_array_equal(d.embedding[p], d.embedding[faces[0]])
        assert np.all(np.isnan(d.data["landmarks"][p])) and not np.any(np.isnan(d.data["landmarks"][faces[0]]))
    # the singer in two frames of one shot: the same person by the gallery's threshold
    a, b = (analysed[i].detections for i in (636, 638))
    fa, fb = (d.class_id == labels.FACE for d in (a, b))
    assert float(a.embedding[fa][0] @ b.embedding[fb][0]) >= MATCH_THRESHOLDS["teachers"]


def test_detected_person_without_face_has_zero_embedding(analysed: dict[int, FrameAnalysis]) -> None:
    d = analysed[901].detections
    assert (d.class_id == labels.FACE).sum() == 0
    persons = d.class_id == labels.PERSON
    assert persons.sum() >= 1 and not d.data["from_face"][persons].any()
    assert np.all(d.embedding[persons] == 0) and np.all(d.data["face_row"][persons] == -1)
    # the walking man: a body box holding the hand-drawn one, not much larger
    cover = face_coverage(WALKER_901, d.xyxy[persons])[0]
    best = int(cover.argmax())
    assert cover[best] >= 0.9
    assert d.area[persons][best] < 2 * (50 * 129)


def test_people_detector_is_injected_and_called_once_per_batch(teacher_frames) -> None:
    class Counting:
        calls = 0

        def detect(self, images):
            Counting.calls += 1
            return [Detections.empty() for _ in images]

    frames = np.stack([teacher_frames[i] for i in (530, 901)])
    results = TeacherModel(people=Counting()).analyze(frames)
    assert Counting.calls == 1 and len(results) == 2
    assert not np.any((results[1].detections.class_id == labels.PERSON)
                      & ~results[1].detections.data["from_face"])


def test_people_below_the_threshold_are_low_detections_unless_they_repeat_a_reported_one() -> None:
    class Scripted:
        def detect(self, images):
            boxes = np.array([[10, 10, 40, 90], [60, 10, 90, 90], [12, 12, 41, 91], [100, 5, 120, 60]],
                             np.float32)
            return [Detections(boxes, np.array([0.9, 0.3, 0.2, 0.05], np.float32),
                               np.full(4, labels.PERSON)) for _ in images]

    result = TeacherModel(people=Scripted()).analyze(np.zeros((1, 128, 160, 3), np.uint8))[0]
    np.testing.assert_array_equal(result.detections.xyxy, [[10, 10, 40, 90]])
    # the 0.3 walker beside him is low; the 0.2 box repeats the reported one, the 0.05 one is
    # below even the low threshold: both go
    low = result.low_detections
    assert low.xyxy.tolist() == [[60, 10, 90, 90]]
    assert low.confidence[0] == pytest.approx(0.3) and set(low.data) == set(result.detections.data)
    assert not low.embedding.any()


def test_head_and_shoulders_geometry() -> None:
    faces = np.array([[100, 50, 140, 100],    # mid-frame: 3 face widths, 0.5 above, 2 below
                      [0, 150, 40, 200]], np.float32)  # at the bottom-left corner: clipped
    boxes = head_and_shoulders(faces, 384, 224)
    np.testing.assert_array_equal(boxes[0], [60, 25, 180, 200])
    np.testing.assert_array_equal(boxes[1], [0, 125, 80, 224])
    assert np.all(face_coverage(faces, boxes).diagonal() == 1.0)
    assert head_and_shoulders(np.zeros((0, 4), np.float32), 384, 224).shape == (0, 4)


def test_blank_frame_has_empty_detections_with_embeddings(model: TeacherModel) -> None:
    (result,) = model.analyze(np.full((1, 224, 384, 3), 90, np.uint8))
    assert len(result.detections) == 0
    assert result.detections.embedding is not None and result.detections.embedding.shape == (0, EMBED_DIM)


def test_a_blank_camera_sized_frame_has_no_detections(model: TeacherModel) -> None:
    (result,) = model.analyze(np.full((1, 576, 768, 3), 90, np.uint8))
    assert len(result.detections) == 0


@pytest.mark.parametrize("shape", [(1, 8, 160, 3), (224, 384, 3), (1, 224, 384, 4)])
def test_rejects_frames_that_are_not_images(model: TeacherModel, shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="frame_size"):
        model.analyze(np.zeros(shape, np.uint8))
