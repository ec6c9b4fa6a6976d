"""The teachers' labels for distillation: computed at the size `vstream index` gives the teachers,
scaled to the student's frames, cached once."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from vstream.detect.labels import ANALYSIS_SIZE, PERSON
from vstream.detect.teacher_cache import teacher_detections, teacher_size
from vstream.detect.teachers.model import TeacherModel
from vstream.detect.video_samples import sample_frames

VTEST = pathlib.Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
HAND_COUNTS = pathlib.Path(__file__).parents[1] / "data" / "vtest_people.json"


@pytest.mark.integration  # the teachers on real frames
@pytest.mark.skipif(not VTEST.is_file(), reason=f"no {VTEST}: apt-get install opencv-doc")
def test_a_camera_is_labelled_at_its_own_size_and_scaled_to_the_students(tmp_path) -> None:
    teacher = TeacherModel()
    # vtest.avi is 10 fps: at 10 samples a second its frames 0, 1, 2, ... are the samples
    frames = sample_frames(VTEST, 10.0, ANALYSIS_SIZE, max_frames=1)
    assert teacher_size(frames, teacher) == (768, 576)
    labels = teacher_detections(frames, teacher, tmp_path, max_frames=1)
    people = labels[0].xyxy[labels[0].class_id == PERSON]
    width, height = ANALYSIS_SIZE
    assert np.all((people >= 0) & (people <= [width, height, width, height]))
    # the 3 people marked by hand on frame 0 are each inside a label, in the student's pixels
    marked = np.array(json.loads(HAND_COUNTS.read_text())["people"]["0"], np.float32)
    marked *= [width / 768, height / 576]
    inside = ((people[None, :, 0] <= marked[:, None, 0]) & (marked[:, None, 0] <= people[None, :, 2])
              & (people[None, :, 1] <= marked[:, None, 1]) & (marked[:, None, 1] <= people[None, :, 3]))
    assert len(marked) == 3 and inside.any(axis=1).all()
    # labelled on the squeezed 384x224 frame instead, the teachers see fewer of them
    squeezed = teacher.analyze(frames.images)[0].detections
    assert (squeezed.class_id == PERSON).sum() < len(people)
    # cached: asked again, the same labels without running the teachers
    again = teacher_detections(frames, _NoTeacher(teacher), tmp_path, max_frames=1)
    np.testing.assert_array_equal(again[0].xyxy, labels[0].xyxy)


class _NoTeacher:
    """The teacher's name and sizes, but analysing is an error: proves the cache answered."""

    def __init__(self, teacher: TeacherModel) -> None:
        self.model_version = teacher.model_version
        self.input_size = teacher.input_size
        self.track_thresholds = teacher.track_thresholds
        self.frame_size = teacher.frame_size

    def analyze(self, images: np.ndarray) -> list:
        raise AssertionError("the cache should have answered")
