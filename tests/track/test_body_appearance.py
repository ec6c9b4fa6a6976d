"""Clothing-colour descriptors (`vstream.track.body_appearance`)."""

from __future__ import annotations

import numpy as np

from vstream.track.body_appearance import DIM, body_appearance


def _scene(people: list[tuple[tuple[int, int, int, int], tuple[int, ...], tuple[int, ...]]]) -> np.ndarray:
    """A grey 200x300 RGB frame with people drawn as (box, shirt colour, trousers colour)."""
    image = np.full((200, 300, 3), 128, np.uint8)
    for (x1, y1, x2, y2), shirt, trousers in people:
        mid = (y1 + y2) // 2
        image[y1:mid, x1:x2] = shirt
        image[mid:y2, x1:x2] = trousers
    return image


RED_BLUE = ((200, 30, 30), (20, 20, 160))
GREEN_BLACK = ((30, 170, 40), (15, 15, 15))


def test_the_same_clothes_look_alike_at_any_size_and_place_and_other_clothes_do_not():
    image = _scene([((10, 10, 40, 90), *RED_BLUE), ((100, 50, 160, 190), *RED_BLUE),
                    ((200, 20, 240, 110), *GREEN_BLACK)])
    boxes = np.array([[10, 10, 40, 90], [100, 50, 160, 190], [200, 20, 240, 110]], np.float32)
    d = body_appearance(image, boxes)
    assert d.shape == (3, DIM) and d.dtype == np.float32
    assert np.allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-5)
    assert d[0] @ d[1] > 0.99
    assert d[0] @ d[2] < 0.2


def test_swapped_shirt_and_trousers_are_a_different_person():
    image = _scene([((10, 10, 40, 90), (200, 30, 30), (20, 20, 160)),
                    ((100, 10, 130, 90), (20, 20, 160), (200, 30, 30))])
    d = body_appearance(image, np.array([[10, 10, 40, 90], [100, 10, 130, 90]], np.float32))
    assert d[0] @ d[1] < 0.2


def test_the_background_at_the_box_edges_barely_counts():
    # the same person in a loose box (background on both sides) and a tight one
    image = _scene([((100, 20, 140, 180), *RED_BLUE)])
    tight = np.array([[100, 20, 140, 180]], np.float32)
    loose = np.array([[80, 20, 160, 180]], np.float32)
    assert (body_appearance(image, tight) @ body_appearance(image, loose).T)[0, 0] > 0.9


def test_a_box_outside_the_frame_or_without_pixels_has_no_appearance():
    image = _scene([])
    d = body_appearance(image, np.array([[400, 10, 450, 90], [10, 10, 10.2, 10.2]], np.float32))
    assert not d.any()
    assert body_appearance(image, np.zeros((0, 4), np.float32)).shape == (0, DIM)
