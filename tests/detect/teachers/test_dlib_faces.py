"""dlib's face detector on real frames of the test video."""

from __future__ import annotations

import numpy as np
import pytest

from vstream.detect import labels
from vstream.detect.teachers.dlib_faces import DlibFaces


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


def test_detect_rejects_what_is_not_one_rgb_frame(dlib_faces: DlibFaces) -> None:
    for image in (np.zeros((1, 224, 384, 3), np.uint8), np.zeros((224, 384, 3), np.float32)):
        with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
            dlib_faces.detect(image)
