"""OpenCV's HOG + linear SVM pedestrian detector (Dalal & Triggs, 2005) with its built-in weights.

`cv2.HOGDescriptor_getDefaultPeopleDetector()` ships inside OpenCV 4.x (not 5.x, DESIGN.md), so
nothing is downloaded. It scores 64x128 windows holding a standing person about 96 px tall, so
frames are upscaled first (ours are 384x224, from 160x90 sources: a person standing in the frame
is often under 128 px tall). OpenCV's own window grouping is switched off (group threshold 0):
the raw windows and their SVM margins go through our NMS, so every kept box has a real score.
"""

from __future__ import annotations

import cv2
import numpy as np

from vstream.detect import labels
from vstream.detect.teachers.nms import nms
from vstream.detections import Detections


class HogPeopleDetector:
    """Whole-body person boxes from OpenCV's default people HOG detector.

    upscale: frames are resized by this factor before detection (boxes are mapped back); with
        1.5 on 384x224 frames people from about 85 px tall are found.
    score_threshold: minimum SVM margin of a kept window (0 is the SVM's own decision boundary;
        OpenCV's examples use the raw windows above 0 and group them).
    nms_threshold: IoU above which a lower-scoring window is suppressed.
    win_stride, padding, scale: `detectMultiScale`'s sliding-window step, border padding (pixels
        of the upscaled frame) and pyramid step.
    """

    def __init__(self, upscale: float = 1.5, score_threshold: float = 0.5, nms_threshold: float = 0.3,
                 win_stride: tuple[int, int] = (8, 8), padding: tuple[int, int] = (16, 16),
                 scale: float = 1.05) -> None:
        if upscale <= 0:
            raise ValueError(f"upscale must be > 0, got {upscale}")
        if scale <= 1.0:
            raise ValueError(f"scale must be > 1 (the pyramid step), got {scale}")
        if not 0.0 < nms_threshold <= 1.0:
            raise ValueError(f"nms_threshold must be in (0, 1], got {nms_threshold}")
        self.upscale = float(upscale)
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.win_stride = tuple(win_stride)
        self.padding = tuple(padding)
        self.scale = float(scale)
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def detect_one(self, image: np.ndarray) -> Detections:
        """Persons in one uint8 RGB frame (H, W, 3): class labels.PERSON, boxes clipped to the frame,
        confidence the SVM margin (not a probability), highest first."""
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 \
                or image.shape[2] != 3:
            got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image)
            raise ValueError(f"image must be a uint8 numpy array (H, W, 3) RGB, got {got}")
        h, w = image.shape[:2]
        big = image
        if self.upscale != 1.0:
            size = (round(w * self.upscale), round(h * self.upscale))
            big = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        # the descriptor takes the maximum gradient over channels, so RGB vs BGR does not matter
        rects, weights = self._hog.detectMultiScale(
            big, hitThreshold=self.score_threshold, winStride=self.win_stride, padding=self.padding,
            scale=self.scale, groupThreshold=0)
        rects = np.asarray(rects, np.float64).reshape(-1, 4)
        scores = np.asarray(weights, np.float64).reshape(-1)
        xyxy = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1) / self.upscale
        keep = nms(xyxy, scores, self.nms_threshold)
        xyxy = np.clip(xyxy[keep], 0, [w, h, w, h]).astype(np.float32)
        return Detections(xyxy, confidence=scores[keep].astype(np.float32),
                          class_id=np.full(len(keep), labels.PERSON, np.int32))

    def detect(self, images: np.ndarray) -> list[Detections]:
        """uint8 RGB frames (B, H, W, 3) -> one Detections per frame (see `detect_one`)."""
        if not isinstance(images, np.ndarray) or images.ndim != 4:
            got = f"{images.dtype} {images.shape}" if isinstance(images, np.ndarray) else type(images)
            raise ValueError(f"images must be a uint8 numpy array (B, H, W, 3) RGB, got {got}")
        return [self.detect_one(image) for image in images]
