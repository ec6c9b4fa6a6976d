"""MediaPipe selfie segmentation as the person-mask teacher, run by torch without MediaPipe.

The models are `selfie_segmentation.tflite` (256x256 input) and
`selfie_segmentation_landscape.tflite` (256x144) of the `mediapipe==0.10.21` wheel (Apache-2.0),
taken out of the wheel by scripts/setup.sh (`weights.mediapipe_model_path`): mediapipe itself is
never installed. `teachers.tflite` reads them and runs them operator by operator, MediaPipe's
custom `Convolution2DTransposeBias` included. As MediaPipe's selfie-segmentation graph does, a
frame is stretched to the model's input, RGB scaled to [0, 1]; the graph ends in a sigmoid, so
its output is the probability that a pixel shows a person, resized back to the frame.

Before this teacher the unified network's mask head learnt the teachers' person boxes filled in.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from vstream.detect.teachers import tflite
from vstream.weights import mediapipe_model_path

#: (file, input width, input height): the general model and the landscape one
GENERAL = ("selfie_segmentation.tflite", 256, 256)
LANDSCAPE = ("selfie_segmentation_landscape.tflite", 256, 144)
#: frames at least this wide for their height go to the landscape model (16:9 is 1.78, 4:3 1.33)
LANDSCAPE_MIN_ASPECT = 1.5
#: person boxes shorter than this share of the frame's height are segmented again in a crop
SMALL_PERSON = 0.5
#: a crop is this many times the box's longer side, square, centred on the box
CROP_MARGIN = 1.25
#: a small person's mask (their crop's) is kept inside their box grown by this share of its
#: width and height on each side
BOX_GROWTH = 0.1
#: a region of the whole frame's mask that touches no person or face box is kept if it covers
#: at least this share of the frame (`person_regions`; set looking at the held-out frames: on
#: the test video such regions of 2.2-22% are people the people teacher missed, the 29 smaller
#: ones (at most 1.4%) hands and the edges of people; on vtest.avi all 207 are stray patches of
#: ground and road, at most 1.3%)
UNBOXED_REGION = 0.02
#: crops per forward pass
CROP_BATCH = 32


@functools.lru_cache(maxsize=2)
def _model(file: str) -> tflite.TfliteNet:
    return tflite.TfliteNet(tflite.read_model(mediapipe_model_path(file))).eval()


class SelfieSegmenter:
    """uint8 RGB frames -> per-pixel person probabilities, MediaPipe's selfie segmentation.

    The models are made for people who fill much of the picture. Each frame is segmented whole,
    and each person box smaller than SMALL_PERSON of the frame's height is segmented again in a
    square crop around it (CROP_MARGIN times its longer side, the general model), pasted back by
    the larger probability, inside the box grown by BOX_GROWTH: a whole 768x576 camera frame
    finds a few of its 40-120 px walkers, crops around the people detector's boxes find them all
    (docs/models.md, "Person masks"). With boxes, the whole frame's mask keeps only what belongs
    to someone who is not small (`person_regions`): a small person's mask is their crop's."""

    model_version = "mediapipe-selfie-segmentation-0.10.21-crops"

    def segment(self, images: np.ndarray, person_boxes: Sequence[np.ndarray] | None = None,
                face_boxes: Sequence[np.ndarray] | None = None) -> np.ndarray:
        """(B, H, W, 3) uint8 RGB frames, and optionally each frame's person boxes and face
        boxes ((n, 4) xyxy pixels) -> (B, H, W) float32 probabilities in [0, 1]. With boxes,
        the whole frame's mask keeps only what belongs to one (`person_regions`)."""
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 \
                or images.shape[3] != 3:
            got = f"{images.dtype} {images.shape}" if isinstance(images, np.ndarray) else type(images)
            raise ValueError(f"images must be uint8 (B, H, W, 3) RGB, got {got}")
        if person_boxes is not None and len(person_boxes) != len(images):
            raise ValueError(f"{len(person_boxes)} box arrays for {len(images)} frames")
        b, h, w, _ = images.shape
        if b == 0:
            return np.zeros((0, h, w), np.float32)
        spec = LANDSCAPE if w / h >= LANDSCAPE_MIN_ASPECT else GENERAL
        masks = [cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR) for m in _run(spec, images)]
        if person_boxes is not None:
            faces = face_boxes if face_boxes is not None else [np.zeros((0, 4))] * b
            masks = [person_regions(m, p, f, SMALL_PERSON * h)
                     for m, p, f in zip(masks, person_boxes, faces, strict=True)]
        crops, places = [], []
        for i, boxes in enumerate(person_boxes or ()):
            for x1, y1, x2, y2 in np.asarray(boxes, np.float64).reshape(-1, 4):
                if y2 - y1 >= SMALL_PERSON * h or x2 <= x1 or y2 <= y1:
                    continue
                side = CROP_MARGIN * max(x2 - x1, y2 - y1)
                cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
                left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
                size = max(int(round(side)), 8)
                crops.append(_crop(images[i], left, top, size))
                gx, gy = BOX_GROWTH * (x2 - x1), BOX_GROWTH * (y2 - y1)
                places.append((i, left, top, size, _pixels(x1 - gx, y1 - gy, x2 + gx, y2 + gy, w, h)))
        for k in range(0, len(crops), CROP_BATCH):
            for (i, left, top, size, (rows, cols)), m in zip(
                    places[k:k + CROP_BATCH], _run(GENERAL, np.stack(crops[k:k + CROP_BATCH]))):
                m = cv2.resize(m, (size, size), interpolation=cv2.INTER_LINEAR)
                # the part of the square inside the person's grown box (which lies in the frame):
                # the rest of the square is ground the model may call person too
                y1, y2 = max(top, rows.start), min(top + size, rows.stop)
                x1, x2 = max(left, cols.start), min(left + size, cols.stop)
                if y2 > y1 and x2 > x1:
                    region = masks[i][y1:y2, x1:x2]
                    np.maximum(region, m[y1 - top:y2 - top, x1 - left:x2 - left], out=region)
        return np.stack(masks)


def person_regions(mask: np.ndarray, person_boxes: np.ndarray, face_boxes: np.ndarray,
                   small_height: float) -> np.ndarray:
    """The whole frame's probability mask (H, W) with its person regions (8-connected pixels
    >= 0.5) checked against the people teacher's boxes ((n, 4) xyxy pixels):

    - a region that touches a face box or a person box at least `small_height` tall is kept
      whole (a close-up's arms and coat reach past the head-and-shoulders box the face rule
      gives it);
    - a region that touches only small person boxes is dropped: the models, made for a person
      who fills the picture, spread a camera's small walkers onto the ground and road around
      them, and the crops segment those people (docs/models.md, "The mask teacher's stray
      regions" and "A small person's mask is their crop's");
    - a region that touches no box is kept if it covers at least UNBOXED_REGION of the frame
      (the models' own case, a person filling the picture: on the test video the singer in a
      long coat, whom the people teacher misses), else it is no one's: set to 0."""
    on = (mask >= 0.5).astype(np.uint8)
    n, labels = cv2.connectedComponents(on, connectivity=8)
    if n <= 1:
        return mask
    h, w = mask.shape
    whole, small = np.zeros(n, bool), np.zeros(n, bool)
    whole[0] = True  # below 0.5: not a region, kept as it is
    boxes = [(b, True) for b in np.reshape(face_boxes, (-1, 4))] + \
            [(b, b[3] - b[1] >= small_height) for b in np.reshape(person_boxes, (-1, 4))]
    for (x1, y1, x2, y2), keeps_whole in boxes:
        (whole if keeps_whole else small)[np.unique(labels[_pixels(x1, y1, x2, y2, w, h)])] = True
    untouched = ~(whole | small)
    whole |= untouched & (np.bincount(labels.ravel(), minlength=n) >= UNBOXED_REGION * h * w)
    return np.where(whole[labels], mask, np.float32(0)).astype(np.float32)


def _pixels(x1: float, y1: float, x2: float, y2: float, w: int, h: int) -> tuple[slice, slice]:
    """The pixels of a box (xyxy, rounded outwards), clipped to a w x h frame."""
    return (slice(min(max(int(y1), 0), h), min(max(int(np.ceil(y2)), 0), h)),
            slice(min(max(int(x1), 0), w), min(max(int(np.ceil(x2)), 0), w)))


def _crop(image: np.ndarray, left: int, top: int, size: int) -> np.ndarray:
    """A size x size square of `image` at (left, top), zero outside the frame, at the general
    model's input size."""
    h, w = image.shape[:2]
    square = np.zeros((size, size, 3), np.uint8)
    fx1, fy1, fx2, fy2 = max(left, 0), max(top, 0), min(left + size, w), min(top + size, h)
    if fx2 > fx1 and fy2 > fy1:
        square[fy1 - top:fy2 - top, fx1 - left:fx2 - left] = image[fy1:fy2, fx1:fx2]
    return cv2.resize(square, GENERAL[1:], interpolation=cv2.INTER_AREA)


def _run(spec: tuple[str, int, int], images: np.ndarray) -> np.ndarray:
    """(B, h, w, 3) uint8 -> (B, in_h, in_w) probabilities of the model `spec`."""
    file, in_w, in_h = spec
    if images.shape[1:3] != (in_h, in_w):
        images = np.stack([cv2.resize(im, (in_w, in_h), interpolation=cv2.INTER_AREA) for im in images])
    with torch.inference_mode():
        (out,) = _model(file)(torch.from_numpy(images).float().div_(255.0))
    return out[..., 0].numpy()
