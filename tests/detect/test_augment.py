"""Augmented views for distillation: the boxes and the mask must stay on what they marked."""

from __future__ import annotations

import cv2
import numpy as np

from vstream.detect.augment import BORDER_RGB, Augmentation, augment
from vstream.detections import Detections

#: geometry only: no colour, blur or JPEG, so pixels can be compared
GEOMETRY = Augmentation(brightness=0.0, contrast=0.0, saturation=0.0, blur_p=0.0, jpeg_p=0.0)
SIZE = (384, 224)


def _scene(rng: np.random.Generator) -> tuple[np.ndarray, Detections, np.ndarray]:
    """A 768x576 noise frame with three pure-colour people-sized rectangles, boxed, and a person
    mask that covers the first (red) one."""
    image = rng.integers(0, 60, (576, 768, 3), dtype=np.uint8)
    boxes = np.array([[100, 200, 130, 280], [400, 50, 440, 150], [700, 480, 740, 570]], np.float32)
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    for (x1, y1, x2, y2), colour in zip(boxes.astype(int), colours):
        image[y1:y2, x1:x2] = colour
    mask = np.zeros((576, 768), np.uint8)
    x1, y1, x2, y2 = boxes[0].astype(int)
    mask[y1:y2, x1:x2] = 255
    return image, Detections(boxes, np.ones(3, np.float32), np.zeros(3, np.int32),
                             embedding=np.eye(3, 128, dtype=np.float32)), mask


def test_the_whole_frame_view_is_the_frame_the_runtime_sees() -> None:
    rng = np.random.default_rng(0)
    image, dets, mask = _scene(rng)
    view, boxes, mask_view = augment(image, dets, mask, SIZE, rng, Augmentation(
        whole_frame_p=1.0, flip_p=0.0, brightness=0.0, contrast=0.0, saturation=0.0,
        blur_p=0.0, jpeg_p=0.0))
    assert np.array_equal(view, cv2.resize(image, SIZE, interpolation=cv2.INTER_AREA))
    assert np.array_equal(mask_view, cv2.resize(mask, SIZE, interpolation=cv2.INTER_AREA))
    np.testing.assert_allclose(boxes.xyxy, dets.xyxy * np.array([0.5, 224 / 576] * 2), atol=1e-4)
    np.testing.assert_array_equal(boxes.embedding, dets.embedding)


def test_boxes_stay_on_their_objects_through_zoom_shift_and_mirror() -> None:
    rng = np.random.default_rng(1)
    image, dets, mask = _scene(rng)
    colours = np.array([(255, 0, 0), (0, 255, 0), (0, 0, 255)])
    kept_partly, dropped, zoomed_out = 0, 0, 0
    for _ in range(60):
        view, boxes, mask_view = augment(image, dets, mask, SIZE, rng, GEOMETRY)
        zoomed_out += bool((view == BORDER_RGB).all(axis=2).any())
        # the mask stays on the red object, wherever the view moved and mirrored it
        red = (view == colours[0]).all(axis=2)
        assert np.array_equal(mask_view >= 128, cv2.dilate(red.astype(np.uint8), np.ones((3, 3))) & (mask_view >= 128))
        assert (mask_view[red] >= 128).all()
        dropped += len(boxes) < 3
        for (x1, y1, x2, y2), embedding in zip(boxes.xyxy, boxes.embedding):
            which = int(np.argmax(embedding))  # the embedding says which object the box is
            inside = view[int(np.ceil(y1)) + 1:int(y2) - 1, int(np.ceil(x1)) + 1:int(x2) - 1]
            assert inside.size, (x1, y1, x2, y2)
            # inside the box: the object's colour (away from resampled edges)
            assert (np.abs(inside.astype(int) - colours[which]).max(axis=2) < 40).mean() > 0.9
            # the object's colour outside its box: only its resampled edge
            match = np.abs(view.astype(int) - colours[which]).max(axis=2) < 40
            outside = match.copy()
            outside[max(int(y1) - 2, 0):int(y2) + 3, max(int(x1) - 2, 0):int(x2) + 3] = False
            assert outside.sum() <= 0.1 * max(match.sum(), 1)
            kept_partly += x1 == 0 or y1 == 0 or x2 == SIZE[0] or y2 == SIZE[1]
    # the draw covered zooming out, boxes cut by the edge and boxes left out
    assert zoomed_out and kept_partly and dropped


def test_a_box_is_kept_when_at_least_half_of_it_is_in_view() -> None:
    rng = np.random.default_rng(2)
    image, dets, mask = _scene(rng)
    # views of half the frame's size at random places: each object in, out, or cut
    half = Augmentation(scale=(0.5, 0.5), whole_frame_p=0.0, flip_p=0.0, brightness=0.0,
                        contrast=0.0, saturation=0.0, blur_p=0.0, jpeg_p=0.0)
    sx, sy = SIZE[0] / 384, SIZE[1] / 288  # output pixels per input pixel at scale 0.5
    seen = {"kept": 0, "dropped": 0}
    for _ in range(300):
        view, boxes, _ = augment(image, dets, mask, SIZE, rng, half)
        kept = set(np.argmax(boxes.embedding, axis=1).tolist()) if len(boxes) else set()
        for which, colour in enumerate(((255, 0, 0), (0, 255, 0), (0, 0, 255))):
            x1, y1, x2, y2 = dets.xyxy[which]
            full = (x2 - x1) * sx * (y2 - y1) * sy
            share = (view == colour).all(axis=2).sum() / full
            if share >= 0.6:
                assert which in kept, share
                seen["kept"] += 1
            elif share <= 0.4:
                assert which not in kept, share
                seen["dropped"] += share > 0
    assert seen["kept"] and seen["dropped"]  # both sides of the rule were drawn


def test_the_same_seed_gives_the_same_view() -> None:
    image, dets, mask = _scene(np.random.default_rng(3))
    a = augment(image, dets, mask, SIZE, np.random.default_rng(7))
    b = augment(image, dets, mask, SIZE, np.random.default_rng(7))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.boxes.xyxy, b.boxes.xyxy)
    assert np.array_equal(a.mask, b.mask)
