"""MediaPipe's selfie segmentation, run by `teachers.tflite`, on real frames: people in, the rest out."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from vstream.detect.labels import PERSON
from vstream.detect.teachers.model import TeacherModel
from vstream.detect.teachers.selfie_segmentation import SelfieSegmenter
from vstream.detect.video_samples import sample_frames

VTEST = pathlib.Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


@pytest.fixture(scope="module")
def teacher() -> TeacherModel:
    return TeacherModel()


def _inside(shape: tuple[int, int], boxes: np.ndarray) -> np.ndarray:
    inside = np.zeros(shape, bool)
    for x1, y1, x2, y2 in boxes.astype(int):
        inside[y1:y2, x1:x2] = True
    return inside


@pytest.mark.integration  # real models on real frames
def test_the_singer_and_a_walker_are_segmented_and_the_background_is_not(
        teacher_frames: dict[int, np.ndarray], teacher: TeacherModel) -> None:
    # 636: a close-up of the singer; 901: a man walking along an arcade, whole body
    images = np.stack([teacher_frames[636], teacher_frames[901]])
    boxes = [a.detections.xyxy[a.detections.class_id == PERSON] for a in teacher.analyze(images)]
    masks = SelfieSegmenter().segment(images, boxes)
    assert masks.shape == images.shape[:3] and masks.dtype == np.float32
    for mask, box in zip(masks, boxes):
        assert len(box) == 1
        inside = _inside(mask.shape, box)
        person = mask >= 0.5
        assert person[inside].mean() > 0.3, "the person should be masked"
        assert (person & inside).sum() > 0.9 * person.sum(), "the mask should stay on the person"
        assert mask[~inside].mean() < 0.05


@pytest.mark.integration  # real models on real frames
def test_crops_around_person_boxes_find_a_cameras_small_walkers(teacher: TeacherModel) -> None:
    frames = sample_frames(VTEST, 0.1, (338, 254), max_frames=2)
    boxes = [a.detections.xyxy[a.detections.class_id == PERSON] for a in teacher.analyze(frames.images)]
    assert sum(map(len, boxes)) >= 5

    def covered(masks: np.ndarray) -> list[float]:
        return [float((m[y1:y2, x1:x2] >= 0.5).mean())
                for m, b in zip(masks, boxes) for x1, y1, x2, y2 in b.astype(int)]

    whole = covered(SelfieSegmenter().segment(frames.images))
    cropped = covered(SelfieSegmenter().segment(frames.images, boxes))
    # a 338x254 camera frame squeezed into 256x144 loses most of its 20-50 px walkers
    assert sum(c >= 0.2 for c in whole) < len(whole)
    assert all(c >= 0.2 for c in cropped), cropped


def test_bad_input_says_what_to_pass() -> None:
    with pytest.raises(ValueError, match="uint8 .B, H, W, 3. RGB"):
        SelfieSegmenter().segment(np.zeros((1, 16, 16, 3), np.float32))
    with pytest.raises(ValueError, match="2 box arrays for 1 frames"):
        SelfieSegmenter().segment(np.zeros((1, 16, 16, 3), np.uint8), [np.zeros((0, 4))] * 2)
    assert SelfieSegmenter().segment(np.zeros((0, 16, 16, 3), np.uint8)).shape == (0, 16, 16)
