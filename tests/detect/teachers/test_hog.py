"""OpenCV's HOG people detector on a real whole-body shot of the test video.

On this music video (mostly close-ups, 160x90 source) HOG is weak: on 100 sampled frames it finds
about one box in three frames, roughly half of them on walls and doorways. Frame 901 is the clean
case: a man in a light coat walking along an arcade, the whole body in view.
"""

from __future__ import annotations

import numpy as np
import pytest

from vstream.detect import labels
from vstream.detect.teachers.hog import HogPeopleDetector
from vstream.detect.teachers.model import face_coverage

#: the walking man of frame 901, labelled by hand on the 384x224 frame (tight around the body)
WALKER_901 = np.array([[160, 95, 210, 224]], np.float32)


@pytest.fixture(scope="module")
def hog() -> HogPeopleDetector:
    return HogPeopleDetector()


def test_finds_the_walking_man(hog: HogPeopleDetector, teacher_frames: dict[int, np.ndarray]) -> None:
    persons = hog.detect_one(teacher_frames[901])
    assert np.all(persons.class_id == labels.PERSON)
    # a HOG box holds the body with a margin (a 64x128 window around a ~96 px person): it must
    # contain the tight box and not be much larger
    cover = face_coverage(WALKER_901, persons.xyxy)[0]
    best = int(cover.argmax())
    assert cover[best] >= 0.9
    assert persons.area[best] < 4 * (50 * 129)


def test_boxes_in_frame_and_sorted(hog: HogPeopleDetector, teacher_frames: dict[int, np.ndarray]) -> None:
    frames = np.stack([teacher_frames[i] for i in (530, 848, 901)])
    for persons in hog.detect(frames):
        x1, y1, x2, y2 = persons.xyxy.T
        assert np.all((0 <= x1) & (x1 < x2) & (x2 <= 384) & (0 <= y1) & (y1 < y2) & (y2 <= 224))
        assert np.all(persons.confidence >= hog.score_threshold)
        assert np.all(np.diff(persons.confidence) <= 0)


def test_flat_frame_has_nobody(hog: HogPeopleDetector) -> None:
    assert len(hog.detect_one(np.full((224, 384, 3), 90, np.uint8))) == 0


def test_rejects_bad_input(hog: HogPeopleDetector) -> None:
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        hog.detect_one(np.zeros((224, 384), np.uint8))
    with pytest.raises(ValueError, match="upscale"):
        HogPeopleDetector(upscale=0)
