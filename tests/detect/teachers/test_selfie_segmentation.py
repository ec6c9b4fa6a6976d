"""MediaPipe's selfie segmentation, run by `teachers.tflite`, on real frames: people in, the rest out."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from vstream.detect.labels import FACE, PERSON
from vstream.detect.teachers.model import TeacherModel
from vstream.detect.teachers.selfie_segmentation import SelfieSegmenter, person_regions
from vstream.detect.video_samples import sample_frames
from camera_foreground import iou, moving_pixels  # tests/ is on pythonpath (pyproject)

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


def test_the_whole_frame_mask_keeps_what_belongs_to_a_person() -> None:
    """`person_regions` on a 100x100 mask: a region keeps what a box vouches for."""
    mask = np.zeros((100, 100), np.float32)
    mask[5:40, 5:30] = 0.9  # a close-up: its face box covers only its top
    mask[50:95, 60:70] = 0.8  # a small walker, spread 20 px onto the ground beside him
    mask[50:95, 70:90] = 0.7
    mask[5:20, 60:70] = 0.6  # a patch of ground no box touches, 1.5% of the frame
    mask[60:90, 5:20] = 0.95  # someone the people teacher missed, 4.5% of the frame
    mask[0:3, 95:100] = 0.3  # below 0.5: no region, left as it is
    faces = np.array([[8, 6, 20, 18]], np.float32)
    walker = np.array([[60, 50, 70, 95]], np.float32)  # 45 px: small against 50
    out = person_regions(mask, walker, faces, small_height=50)
    np.testing.assert_array_equal(out[5:40, 5:30], mask[5:40, 5:30])  # whole, far past the face box
    assert not out[50:95, 60:90].any()  # a small walker's mask is his crop's, not this spread
    assert not out[5:20, 60:70].any()
    np.testing.assert_array_equal(out[60:90, 5:20], mask[60:90, 5:20])
    np.testing.assert_array_equal(out[0:3, 95:100], mask[0:3, 95:100])
    # the same walker's box at 40 px of a 40-px "small" line is large: his region stays whole
    np.testing.assert_array_equal(person_regions(mask, walker, faces, small_height=40)[50:95, 70:90],
                                  mask[50:95, 70:90])


@pytest.mark.integration  # real models on real frames
def test_a_cameras_mask_stays_on_its_walkers(teacher: TeacherModel) -> None:
    """On vtest.avi the whole-frame model calls patches of ground and road a person; with the
    teacher's boxes the mask stays on the people."""
    frames = sample_frames(VTEST, 0.1, (470, 352), max_frames=3)
    found = [a.detections for a in teacher.analyze(frames.images)]
    people = [d.xyxy[d.class_id == PERSON] for d in found]
    raw = SelfieSegmenter().segment(frames.images)
    masks = SelfieSegmenter().segment(frames.images, people, [d.xyxy[d.class_id == FACE] for d in found])
    for r, m, boxes in zip(raw, masks, people):
        grown = np.concatenate([boxes[:, :2] - 0.25 * (boxes[:, 2:] - boxes[:, :2]),
                                boxes[:, 2:] + 0.25 * (boxes[:, 2:] - boxes[:, :2])], axis=1)
        inside = _inside(m.shape, np.clip(grown, 0, None))
        person = m >= 0.5
        assert (person & inside).sum() >= 0.98 * person.sum()
        assert (r >= 0.5)[~inside].sum() > 0  # what was cut: the whole frame's strays


@pytest.mark.integration  # real models on real frames
def test_a_cameras_person_pixels_are_what_moves(teacher: TeacherModel) -> None:
    """Against an independent reference, the camera's moving pixels (tests/camera_foreground.py):
    the teacher's person pixels are people, not the ground around them. With the whole frame's
    regions of small walkers kept inside their boxes (before 2026-12-05) 0.83 of them moved and
    the box-shaped strays beside the walkers did not; with a small person's mask their crop's,
    0.96 (8 frames over the video, 576x432)."""
    frames = sample_frames(VTEST, 0.1, (576, 432))
    found = [a.detections for a in teacher.analyze(frames.images)]
    person = SelfieSegmenter().segment(frames.images, [d.xyxy[d.class_id == PERSON] for d in found],
                                       [d.xyxy[d.class_id == FACE] for d in found]) >= 0.5
    moving = moving_pixels(VTEST, frames.images)
    share = float(moving[person].mean())
    print(f"teacher person pixels that move: {share:.3f}; IoU with the moving pixels {iou(person, moving):.3f}")
    assert share >= 0.9
