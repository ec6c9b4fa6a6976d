"""The person mask at the analysed image's pixels: the grid upsampled, then following the picture."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from vstream.detect.person_mask import frame_mask, grid_to_frame

VTEST = pathlib.Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")

def test_a_grid_cell_covers_its_stride_square_and_the_frame_crops_the_last_row() -> None:
    grid = np.zeros((3, 4), np.float32)
    grid[1, 2] = 1.0
    frame = grid_to_frame(grid, width=30, height=20, stride=8)
    assert frame.shape == (20, 30)
    assert frame[11:13, 19:21].min() > 0.85  # around the cell's centre, pixel (11.5, 19.5)
    hot = frame >= 0.5
    ys, xs = np.nonzero(hot)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (8, 15, 16, 23)


def _walker_scene() -> tuple[np.ndarray, np.ndarray]:
    """A 96x128 street with a dark walker 14 px wide and 44 tall, not aligned to the 4-px grid,
    and the truth mask."""
    rng = np.random.default_rng(3)
    image = np.clip(rng.normal(170, 12, (96, 128, 3)), 0, 255).astype(np.uint8)
    truth = np.zeros((96, 128), bool)
    truth[25:69, 50:64] = True
    image[truth] = np.clip(rng.normal(60, 12, (truth.sum(), 3)), 0, 255).astype(np.uint8)
    return image, truth


def _coarse_prediction(truth: np.ndarray, stride: int = 4) -> np.ndarray:
    """What a stride-4 head draws: each cell's share of person, spread a cell further (a blob
    wider than the walker)."""
    h, w = truth.shape
    share = truth.reshape(h // stride, stride, w // stride, stride).mean(axis=(1, 3))
    spread = np.maximum(share, 0.6 * np.maximum.reduce([np.roll(share, s, a) for a in (0, 1) for s in (-1, 1)]))
    return spread.astype(np.float32)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_the_frame_mask_follows_the_walkers_outline_where_the_grid_draws_a_blob() -> None:
    image, truth = _walker_scene()
    grid = _coarse_prediction(truth)
    blob = grid_to_frame(grid, 128, 96, 4) >= 0.5
    mask = frame_mask(grid, image)
    assert mask.shape == (96, 128) and mask.dtype == np.float32
    assert 0.0 <= mask.min() and mask.max() <= 1.0
    assert _iou(blob, truth) < 0.8
    assert _iou(mask >= 0.5, truth) > 0.95
    assert not (mask >= 0.5)[:, :40].any()  # nothing far from the walker


def test_a_grid_not_over_the_image_is_refused() -> None:
    image, truth = _walker_scene()
    with pytest.raises(ValueError, match="grid is not over"):
        frame_mask(np.zeros((10, 32), np.float32), image)


@pytest.mark.integration  # the shipped network on real frames
def test_the_shipped_networks_camera_mask_matches_what_moves() -> None:
    """vtest.avi at the size it is analysed at, against the camera's moving pixels (an
    independent reference, tests/camera_foreground.py): the frame mask is on the walkers, and
    closer to their outlines than the grid upsampled (8 frames over the video: 0.786 against
    0.733 on 2026-12-05)."""
    from camera_foreground import iou, moving_pixels  # tests/ is on pythonpath (pyproject)
    from vstream.detect.checkpoint import load_unified
    from vstream.detect.video_samples import sample_frames, source_size

    model = load_unified()
    frames = sample_frames(VTEST, 0.1, model.frame_size(*source_size(VTEST)))
    h, w = frames.images.shape[1:3]
    assert (w, h) == (576, 432)
    analyses = model.analyze(frames.images)
    mask = np.stack([frame_mask(a.person_mask, image) for a, image in zip(analyses, frames.images)]) >= 0.5
    grid = np.stack([grid_to_frame(a.person_mask, w, h, 4) for a in analyses]) >= 0.5
    moving = moving_pixels(VTEST, frames.images)
    print(f"IoU with the moving pixels: frame mask {iou(mask, moving):.3f}, grid upsampled {iou(grid, moving):.3f}")
    assert iou(mask, moving) >= 0.75
    assert iou(mask, moving) >= iou(grid, moving) + 0.03
