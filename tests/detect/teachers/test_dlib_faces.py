"""dlib's detector and face embeddings on real frames of the test video."""

from __future__ import annotations

import numpy as np
import pytest

from vstream.detect import labels
from vstream.detect.teachers.dlib_faces import SAME_PERSON_DISTANCE, DlibFaces


@pytest.fixture(scope="module")
def dlib_faces() -> DlibFaces:
    return DlibFaces(upsample=1)


def test_detects_the_singer(dlib_faces: DlibFaces, teacher_frames: dict[int, np.ndarray]) -> None:
    faces = dlib_faces.detect(teacher_frames[636])
    assert len(faces) == 1 and faces.class_id[0] == labels.FACE and faces.confidence[0] > 0
    # the close-up face is about 130 px wide in the middle-left of the frame
    x1, y1, x2, y2 = faces.xyxy[0]
    assert 90 < x2 - x1 < 170 and 60 < (x1 + x2) / 2 < 220
    assert len(dlib_faces.detect(teacher_frames[901])) == 0  # a pedestrian seen from afar
    # without upsampling the 80 px window misses the 53 px face of frame 530
    assert len(dlib_faces.detect(teacher_frames[530], upsample=0)) == 0
    assert len(dlib_faces.detect(teacher_frames[530])) == 1


def test_embeddings_of_one_face_in_one_shot_are_close(dlib_faces: DlibFaces,
                                                      teacher_frames: dict[int, np.ndarray]) -> None:
    a = dlib_faces.detect(teacher_frames[636])
    b = dlib_faces.detect(teacher_frames[638])
    ea = dlib_faces.embed(teacher_frames[636], a.xyxy)
    eb = dlib_faces.embed(teacher_frames[638], b.xyxy)
    assert ea.shape == (1, 128) and ea.dtype == np.float32
    assert np.linalg.norm(ea - eb) < SAME_PERSON_DISTANCE / 2
    # deterministic (no jitter) and independent of the other faces embedded with it
    np.testing.assert_array_equal(dlib_faces.embed(teacher_frames[636], a.xyxy), ea)
    both = dlib_faces.embed(teacher_frames[636], np.concatenate([a.xyxy, a.xyxy + [5, 0, 5, 0]]))
    np.testing.assert_allclose(both[0], ea[0], atol=1e-5)
    # a box on the wall beside the face is not the same face
    wall = dlib_faces.embed(teacher_frames[636], np.array([[260, 20, 360, 120]], np.float32))
    assert np.linalg.norm(wall - ea) > SAME_PERSON_DISTANCE


def test_embed_no_boxes(dlib_faces: DlibFaces, teacher_frames: dict[int, np.ndarray]) -> None:
    out = dlib_faces.embed(teacher_frames[636], np.zeros((0, 4), np.float32))
    assert out.shape == (0, 128) and out.dtype == np.float32


@pytest.mark.parametrize(
    "image, boxes, message",
    [
        (np.zeros((1, 224, 384, 3), np.uint8), np.zeros((0, 4)), r"\(H, W, 3\)"),
        (np.zeros((224, 384, 3), np.float32), np.zeros((0, 4)), r"\(H, W, 3\)"),
        (np.zeros((224, 384, 3), np.uint8), np.zeros((4,)), r"\(n, 4\)"),
    ],
)
def test_embed_rejects_bad_input(dlib_faces: DlibFaces, image: np.ndarray, boxes: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dlib_faces.embed(image, boxes)
