"""The face rule's boxes are recognised in a teacher's cached detections."""

from __future__ import annotations

import numpy as np

from vstream.detect.labels import FACE, PERSON
from vstream.detect.person_faces import face_rule_people, face_sized_people, head_and_shoulders


def test_the_face_rules_boxes_are_told_from_bodies_after_scaling() -> None:
    faces = np.array([[100.0, 20.0, 130.0, 60.0], [300.0, 150.0, 330.0, 190.0]], np.float32)
    derived = head_and_shoulders(faces[1:], 392, 220)  # clipped at the bottom edge
    body = np.array([[80.0, 10.0, 160.0, 210.0]], np.float32)
    xyxy = np.concatenate([faces, body, derived])
    confidence = np.array([0.9, 0.8, 0.7, 0.8], np.float32)
    class_id = np.array([FACE, FACE, PERSON, PERSON])
    # the teacher cache stores boxes scaled from the teacher's frame size to the student's
    scale = np.array([384 / 392, 224 / 220] * 2, np.float32)
    flags = face_rule_people(xyxy * scale, confidence, class_id, 384, 224)
    np.testing.assert_array_equal(flags, [False, False, False, True])
    # a body of the same size as a face's head-and-shoulders box, with another score, is a body
    confidence[3] = 0.75
    assert not face_rule_people(xyxy * scale, confidence, class_id, 384, 224).any()


def test_a_person_box_the_size_of_its_face_is_the_face_not_a_body() -> None:
    face = np.array([[100.0, 50.0, 140.0, 100.0]], np.float32)  # 40x50
    people = np.array([
        [95.0, 45.0, 150.0, 110.0],    # 55x65: 1.8 face areas around the face
        [60.0, 30.0, 180.0, 200.0],    # the body around it
        [98.0, 40.0, 190.0, 190.0],    # a head-and-shoulders-like box: 6.9 face areas
        [300.0, 50.0, 340.0, 100.0],   # face-sized, but no face inside (a far person)
    ], np.float32)
    np.testing.assert_array_equal(face_sized_people(face, people), [True, False, False, False])
    assert face_sized_people(np.zeros((0, 4), np.float32), people).tolist() == [False] * 4
    assert face_sized_people(face, np.zeros((0, 4), np.float32)).tolist() == []
