"""An independent reference for person masks on a fixed camera: the pixels that differ from the
camera's background (the median of frames over the whole video), as a background subtractor
sees them. It shares no failure with MediaPipe or the student: it knows nothing of people, only
of what moves, and vtest.avi's people walk."""

from __future__ import annotations

import pathlib

import cv2
import numpy as np

from vstream.detect.video_samples import sample_frames

#: a pixel moves when one of its channels differs from the background by more than this
CHANGE = 30


def moving_pixels(video: pathlib.Path, images: np.ndarray) -> np.ndarray:
    """(n, h, w) bool: the pixels of `images` (frames of `video` at (w, h)) unlike its background."""
    h, w = images.shape[1:3]
    background = np.median(sample_frames(video, 3.0, (w, h)).images.astype(np.int16), axis=0)
    moving = np.abs(images.astype(np.int16) - background).max(axis=-1) > CHANGE
    return np.stack([cv2.morphologyEx(m.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0
                     for m in moving])


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Pixels in both / pixels in either."""
    return float((a & b).sum() / max((a | b).sum(), 1))
