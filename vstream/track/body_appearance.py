"""What a person's body looks like, as a vector a tracker can compare: clothing colour.

A fixed camera sees people whose faces are a few pixels wide, so the face embedding that
identifies people in close shots is absent (a zero row) on most person boxes, and the tracker
follows them by motion alone: two people crossing swap, and a person hidden for a second comes
back as a new track. Clothing colour is what separates them at that size (the classic re-ID
baseline, before learned embeddings): an HSV colour histogram of the upper body and one of the
legs, each taken from the middle of the box (its edges are mostly background), each
L1-normalised and square-rooted so that the cosine of two descriptors is the Bhattacharyya
coefficient of their histograms (1: the same colours), then the two halves concatenated with
equal weight.
"""

from __future__ import annotations

import cv2
import numpy as np

#: HSV bins: hue (OpenCV's 0-180), saturation, value. Grey clothes have no meaningful hue, so
#: saturation and value carry most of the information on dull footage.
BINS = (8, 3, 4)
#: the parts of a box (x1, y1, x2, y2 as fractions of its width and height) described:
#: the torso below the head and the legs above the feet, the middle half of the width
PARTS = ((0.25, 0.15, 0.75, 0.5), (0.25, 0.5, 0.75, 0.9))
DIM = len(PARTS) * int(np.prod(BINS))
#: boxes narrower or shorter than this (pixels) have no appearance: a few pixels of colour
#: are noise, not clothes
MIN_SIDE = 6


def body_appearance(image: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
    """(n, DIM) float32 unit rows describing the boxes `xyxy` (n, 4) of an RGB uint8 image; a
    box smaller than MIN_SIDE, or with a part outside the image, gets a zero row (appearance
    unknown)."""
    boxes = np.asarray(xyxy, np.float32).reshape(-1, 4)
    out = np.zeros((len(boxes), DIM), np.float32)
    if not len(boxes):
        return out
    hsv = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2HSV)
    h, w = hsv.shape[:2]
    per_part = int(np.prod(BINS))
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        bw, bh = x2 - x1, y2 - y1
        if bw < MIN_SIDE or bh < MIN_SIDE:
            continue
        for k, (fx1, fy1, fx2, fy2) in enumerate(PARTS):
            c1, c2 = (int(np.clip(round(x1 + f * bw), 0, w)) for f in (fx1, fx2))
            r1, r2 = (int(np.clip(round(y1 + f * bh), 0, h)) for f in (fy1, fy2))
            if c2 <= c1 or r2 <= r1:
                out[i] = 0.0
                break
            hist = cv2.calcHist([hsv[r1:r2, c1:c2]], [0, 1, 2], None, list(BINS),
                                [0, 180, 0, 256, 0, 256]).ravel()
            out[i, k * per_part:(k + 1) * per_part] = np.sqrt(hist / hist.sum())
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    return np.where(norm > 0, out / np.maximum(norm, 1e-12), 0.0).astype(np.float32)
