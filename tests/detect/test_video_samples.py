"""Frame sampling of the real test video, and the time-block train/held-out split."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from vstream.detect.video_samples import is_held_out, is_still_image, sample_frames
from vstream.errors import VideoOpenError
from vstream.weights import test_video_path


@pytest.mark.parametrize(
    "t, held",
    [(0.0, False), (39.99, False), (40.0, True), (49.99, True), (50.0, False), (90.0, True),
     (140.5, True), (200.0, False)],
)
def test_every_fifth_ten_second_block_is_held_out(t: float, held: bool) -> None:
    assert bool(is_held_out(np.array([t]))[0]) is held


def test_held_out_share_is_a_fifth() -> None:
    times = np.arange(0, 200, 0.04)
    assert is_held_out(times).mean() == pytest.approx(0.2)


#: photographs of Debian's opencv-doc (a Leuven street, two basketball players)
OPENCV_DATA = pathlib.Path("/usr/share/doc/opencv-doc/examples/data")


@pytest.mark.parametrize("name", ["leuvenA.jpg", "basketball1.png"])
def test_a_photograph_is_one_training_frame_at_its_own_aspect_ratio(name: str) -> None:
    path = OPENCV_DATA / name
    assert is_still_image(path)
    frames = sample_frames(path, 4.0, (338, 254))
    assert frames.images.shape == (1, 254, 338, 3) and frames.images.std() > 10
    assert frames.times.tolist() == [0.0] and not frames.held_out.any()


def test_a_video_is_not_a_still_image() -> None:
    assert not is_still_image(test_video_path())
    assert not is_still_image(OPENCV_DATA / "vtest.avi")


def test_sample_frames_of_the_test_video() -> None:
    frames = sample_frames(test_video_path(), 2.0, max_frames=5)
    assert frames.images.shape == (5, 224, 384, 3) and frames.images.dtype == np.uint8
    np.testing.assert_allclose(frames.times, [0.0, 0.52, 1.0, 1.52, 2.0], atol=0.05)
    assert not frames.held_out.any()
    assert frames.images.std() > 10  # real picture content, not black frames
    assert len(frames.select(np.array([True, False, True, False, False]))) == 2


def test_sample_frames_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match="sample_fps"):
        sample_frames(test_video_path(), 0)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(VideoOpenError, match="bad.mp4"):
        sample_frames(bad, 1.0)
