"""The distillation targets."""

from __future__ import annotations

import numpy as np
import pytest

from vstream.detect.distill_loss import grid_mask


def test_the_mask_target_is_each_cells_mean_person_probability() -> None:
    mask = np.zeros((20, 30), np.uint8)  # a 30x20 image: a 4x3 grid, its last row and column cut
    mask[0:8, 8:16] = 255  # cell (0, 1) all person
    mask[8:12, 0:8] = 255  # half of cell (1, 0)
    mask[16:20, 24:30] = 255  # all of cell (2, 3) that lies in the image: 4x6 of its 8x8
    cells = grid_mask(mask, 8)
    assert cells.shape == (3, 4) and cells.dtype == np.float32
    assert cells[0, 1] == pytest.approx(1.0) and cells[1, 0] == pytest.approx(0.5)
    assert cells[2, 3] == pytest.approx(24 / 64)  # outside the image is no person
    assert cells.sum() == pytest.approx(1.0 + 0.5 + 24 / 64)


def test_the_stride_4_mask_target_keeps_what_stride_8_averages_away() -> None:
    """A walker 6 px wide on a camera: at stride 4 the cells over them are mostly person, at
    stride 8 none is (the reason the mask head went to stride 4)."""
    mask = np.zeros((32, 32), np.uint8)
    mask[4:28, 13:19] = 255
    fine, coarse = grid_mask(mask, 4), grid_mask(mask, 8)
    assert fine.shape == (8, 8) and coarse.shape == (4, 4)
    assert fine.max() >= 0.75 and coarse.max() < 0.5
    # both are means of the same pixels: the person's area is kept either way
    assert fine.sum() * 16 == pytest.approx(24 * 6) and coarse.sum() * 64 == pytest.approx(24 * 6)


def test_the_overlap_loss_weighs_a_small_walker_as_much_as_a_close_up() -> None:
    """BCE averaged over cells barely notices a camera walker's mask missing; the overlap term
    counts each frame's people as a whole, and frames without anyone are left to BCE."""
    import torch
    import torch.nn.functional as F

    from vstream.detect.distill_loss import soft_overlap_loss

    target = torch.zeros(3, 1, 40, 40)
    target[0, 0, 10:14, 20:22] = 1.0  # a walker: 8 of 1600 cells
    target[1, 0, 5:35, 5:35] = 1.0  # a close-up
    logits = torch.full_like(target, -8.0)  # nobody marked anywhere
    missed = soft_overlap_loss(logits, target)
    assert missed.item() == pytest.approx(1.0, abs=1e-3)
    assert F.binary_cross_entropy_with_logits(logits[:1], target[:1]).item() < 0.05
    right = torch.where(target > 0, 12.0, -12.0)
    assert soft_overlap_loss(right, target).item() < 1e-2
    # only the close-up found: the walker's frame alone keeps the loss at a half
    half = torch.where(torch.arange(3)[:, None, None, None] == 1, right, logits)
    assert soft_overlap_loss(half, target).item() == pytest.approx(0.5, abs=1e-2)
    assert soft_overlap_loss(logits, torch.zeros_like(target)).item() == 0.0
