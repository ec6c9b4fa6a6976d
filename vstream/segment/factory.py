"""Builds the shot detector a setting names."""

from __future__ import annotations

from vstream.segment.detector import ShotDetector


def make_shot_detector(kind: str) -> ShotDetector:
    """`fast` (numba content detector), `neural` (TransNetV2) or `combined` (the default)."""
    if kind == "fast":
        from vstream.segment.content import ContentShotDetector

        return ContentShotDetector()
    if kind == "neural":
        from vstream.segment.neural import NeuralShotDetector

        return NeuralShotDetector()
    if kind == "combined":
        from vstream.segment.combined import CombinedShotDetector

        return CombinedShotDetector()
    raise ValueError(f"unknown shot detector {kind!r}: choose combined, fast or neural")
