"""How well a student's person mask matches the segmentation teacher's.

The student's mask is person probabilities on its grid (stride 4 or 8), brought to the frame's
pixels as a user gets it (`vstream.detect.person_mask.frame_mask`: upsampled, then made to follow
the picture's edges), and both masks are cut at 0.5. The score is the intersection over union pooled
over frames (sum of intersections / sum of unions), so a frame with a large person weighs more
than one with a speck, and frames where neither mask shows anyone add nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: the cut that makes a probability map a mask
MASK_THRESHOLD = 0.5


@dataclass(frozen=True)
class MaskScore:
    """Pooled mask overlap of a model with its segmentation teacher."""

    intersection: int  # pixels both call person
    union: int  # pixels either calls person
    model_share: float  # share of all pixels the model calls person
    teacher_share: float  # share of all pixels the teacher calls person

    @property
    def iou(self) -> float:
        """intersection / union (1 when neither mask has a person pixel)."""
        return self.intersection / self.union if self.union else 1.0


def mask_score(model_masks: np.ndarray, teacher_masks: np.ndarray) -> MaskScore:
    """(n, H, W) model and teacher probabilities, the same frames -> the pooled MaskScore."""
    if model_masks.shape != teacher_masks.shape:
        raise ValueError(f"mask shapes differ: {model_masks.shape} vs {teacher_masks.shape}")
    mine, theirs = model_masks >= MASK_THRESHOLD, teacher_masks >= MASK_THRESHOLD
    return MaskScore(int((mine & theirs).sum()), int((mine | theirs).sum()),
                     float(mine.mean()) if mine.size else 0.0, float(theirs.mean()) if theirs.size else 0.0)


def pooled(scores: list[MaskScore], pixels: list[int]) -> MaskScore:
    """Several videos' scores (each over `pixels` pixels) as one."""
    total = max(sum(pixels), 1)
    return MaskScore(sum(s.intersection for s in scores), sum(s.union for s in scores),
                     sum(s.model_share * p for s, p in zip(scores, pixels)) / total,
                     sum(s.teacher_share * p for s, p in zip(scores, pixels)) / total)
