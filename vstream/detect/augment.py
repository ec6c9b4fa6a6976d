"""Image-level augmentation for distillation: a frame and its teacher boxes -> a new view of them
at the student's input size.

A view is a rectangle of the frame with the frame's own aspect ratio, `scale` times its size:
below 1 it zooms in (people larger than the camera shows them), above 1 it zooms out (the frame
shrinks inside a grey border: people smaller than in any training frame, which is what a wide
camera gives). The view is squeezed to the input size exactly as the runtime squeezes a whole
frame, so a view at scale 1 is the frame the runtime sees. Then a mirror image, colour (brightness,
contrast, saturation), blur and JPEG re-compression at random, each with its own probability:
the student must not learn one camera's sensor, one video's grade or one encoder's blocks.

Boxes and the teacher's person mask move with the view; a box cut by the view's edge keeps its visible part if at least
`MIN_VISIBLE` of it is inside, and is dropped otherwise (a sliver of a person is not a person
the teacher would have boxed). Embedding targets are kept: a person's identity does not change in
a mirror or a grey border.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from vstream.detections import Detections

#: least share of a box's area inside the view for the box to stay a target
MIN_VISIBLE = 0.5
#: least side (output pixels) of a kept box
MIN_SIDE = 2.0
#: border colour of a zoomed-out view: ImageNet's mean, which the backbone's normalisation maps
#: to zero
BORDER_RGB = (124, 116, 104)


@dataclass(frozen=True)
class Augmentation:
    """How views are drawn (each a probability or a range sampled uniformly)."""

    scale: tuple[float, float] = (0.5, 1.5)  # view size / frame size
    whole_frame_p: float = 0.25  # the frame as the runtime sees it (scale 1, no shift)
    flip_p: float = 0.5
    brightness: float = 0.3  # +- share of 255 added
    contrast: float = 0.3  # +- share around the mean
    saturation: float = 0.4  # +- share of the colour around the grey
    blur_p: float = 0.2
    blur_sigma: tuple[float, float] = (0.5, 1.5)
    jpeg_p: float = 0.3
    jpeg_quality: tuple[int, int] = (25, 90)


class View(NamedTuple):
    """An augmented view of a training frame and its teacher targets, at the student's size."""

    image: np.ndarray  # uint8 RGB (h, w, 3)
    boxes: Detections  # in the view's pixels
    mask: np.ndarray  # uint8 (h, w) person probability * 255 (0 in a zoomed-out border)


def augment(image: np.ndarray, dets: Detections, mask: np.ndarray, size: tuple[int, int],
            rng: np.random.Generator, aug: Augmentation = Augmentation()) -> View:
    """uint8 RGB `image` (H, W, 3) with `dets` in its pixels and the teacher's uint8 person
    mask (H, W) -> a `View` at `size` = (w, h). Deterministic for `rng`'s state."""
    height, width = image.shape[:2]
    out_w, out_h = size
    if rng.random() < aug.whole_frame_p:
        scale, x0, y0 = 1.0, 0.0, 0.0
    else:
        scale = float(rng.uniform(*aug.scale))
        # the view's corner: anywhere that keeps the view inside the frame (zoom in) or the
        # frame inside the view (zoom out)
        x0 = float(rng.uniform(min(0.0, width - scale * width), max(0.0, width - scale * width)))
        y0 = float(rng.uniform(min(0.0, height - scale * height), max(0.0, height - scale * height)))
    rect = (x0, y0, scale * width, scale * height)
    view, mask_view = _render(image, rect, size, BORDER_RGB), _render(mask, rect, size, 0)
    sx, sy = out_w / (scale * width), out_h / (scale * height)
    xyxy = (dets.xyxy - np.array([x0, y0, x0, y0], np.float32)) * np.array([sx, sy, sx, sy], np.float32)
    if rng.random() < aug.flip_p:
        view, mask_view = np.ascontiguousarray(view[:, ::-1]), np.ascontiguousarray(mask_view[:, ::-1])
        xyxy = np.stack([out_w - xyxy[:, 2], xyxy[:, 1], out_w - xyxy[:, 0], xyxy[:, 3]], axis=1)
    kept = _keep_visible(xyxy, out_w, out_h)
    clipped = np.clip(xyxy[kept], 0, [out_w, out_h, out_w, out_h]).astype(np.float32)
    boxes = Detections(clipped, dets.confidence[kept], dets.class_id[kept],
                       embedding=None if dets.embedding is None else dets.embedding[kept])
    return View(_photometric(view, rng, aug), boxes, mask_view)


def _render(image: np.ndarray, rect: tuple[float, float, float, float], size: tuple[int, int],
            border: tuple[int, ...] | int) -> np.ndarray:
    """The part of `image` (H, W, ...) under `rect` (x, y, w, h in its pixels, may reach outside
    it) at `size`, `border` where the rect is outside the image. Area interpolation when
    shrinking, as the runtime's decoder scales frames."""
    height, width = image.shape[:2]
    out_w, out_h = size
    x, y, w, h = rect
    sx, sy = out_w / w, out_h / h
    # the image's part inside the rect, in image pixels and in output pixels
    ix0, iy0 = max(0, int(np.floor(x))), max(0, int(np.floor(y)))
    ix1, iy1 = min(width, int(np.ceil(x + w))), min(height, int(np.ceil(y + h)))
    # (clamped: a part cut at a fraction of a pixel is stretched by less than one input pixel)
    ox0, ox1 = (min(max(round((i - x) * sx), 0), out_w) for i in (ix0, ix1))
    oy0, oy1 = (min(max(round((i - y) * sy), 0), out_h) for i in (iy0, iy1))
    canvas = np.empty((out_h, out_w, *image.shape[2:]), np.uint8)
    canvas[:] = border
    if ox1 - ox0 < 1 or oy1 - oy0 < 1:
        return canvas
    part = image[iy0:iy1, ix0:ix1]
    shrink = (ox1 - ox0) * (oy1 - oy0) < part.shape[0] * part.shape[1]
    canvas[oy0:oy1, ox0:ox1] = cv2.resize(part, (ox1 - ox0, oy1 - oy0),
                                          interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return canvas


def _keep_visible(xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
    """Rows of boxes with at least MIN_VISIBLE of their area and MIN_SIDE per side in the view."""
    area = np.maximum(xyxy[:, 2] - xyxy[:, 0], 0) * np.maximum(xyxy[:, 3] - xyxy[:, 1], 0)
    cw = np.clip(xyxy[:, 2], 0, width) - np.clip(xyxy[:, 0], 0, width)
    ch = np.clip(xyxy[:, 3], 0, height) - np.clip(xyxy[:, 1], 0, height)
    visible = np.maximum(cw, 0) * np.maximum(ch, 0)
    return (visible >= MIN_VISIBLE * np.maximum(area, 1e-6)) & (cw >= MIN_SIDE) & (ch >= MIN_SIDE)


def _photometric(view: np.ndarray, rng: np.random.Generator, aug: Augmentation) -> np.ndarray:
    """Colour, blur and JPEG at random."""
    x = view.astype(np.float32)
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * (1 + rng.uniform(-aug.saturation, aug.saturation))
    x = x.mean() + (x - x.mean()) * (1 + rng.uniform(-aug.contrast, aug.contrast))
    x = x + 255 * rng.uniform(-aug.brightness, aug.brightness)
    out = np.clip(x, 0, 255).astype(np.uint8)
    if rng.random() < aug.blur_p:
        out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(*aug.blur_sigma)))
    if rng.random() < aug.jpeg_p:
        quality = int(rng.integers(aug.jpeg_quality[0], aug.jpeg_quality[1] + 1))
        ok, data = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:  # channel order does not matter: encoded and decoded the same way
            out = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return out
