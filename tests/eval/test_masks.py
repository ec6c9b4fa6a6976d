"""Mask overlap of a student with its segmentation teacher."""

from __future__ import annotations

import numpy as np
import pytest

from vstream.eval.masks import MaskScore, mask_score, pooled


def test_iou_pools_pixels_over_frames() -> None:
    model = np.zeros((2, 10, 10), np.float32)
    teacher = np.zeros((2, 10, 10), np.float32)
    model[0, :5] = 0.9  # 50 pixels
    teacher[0, :4] = 0.8  # 40 of them
    teacher[1, :, :1] = 0.7  # 10 pixels the model misses
    score = mask_score(model, teacher)
    assert (score.intersection, score.union) == (40, 60)
    assert score.iou == pytest.approx(40 / 60)
    assert score.model_share == pytest.approx(50 / 200) and score.teacher_share == pytest.approx(50 / 200)
    assert mask_score(np.zeros((1, 4, 4)), np.zeros((1, 4, 4))).iou == 1.0
    with pytest.raises(ValueError, match="mask shapes differ"):
        mask_score(model, teacher[:1])


def test_videos_pool_by_their_pixels() -> None:
    both = pooled([MaskScore(10, 20, 0.5, 0.25), MaskScore(0, 30, 0.0, 1.0)], [100, 300])
    assert (both.intersection, both.union) == (10, 50) and both.iou == pytest.approx(0.2)
    assert both.model_share == pytest.approx(0.125) and both.teacher_share == pytest.approx(0.8125)
