"""People evaluation: agreement with a reference clustering, and the calibrated threshold."""

from __future__ import annotations

import numpy as np
import pytest

from vstream.eval.people import calibrate_threshold, cluster_agreement, reference_clusters


def _unit_rows(e: np.ndarray) -> np.ndarray:
    return e / np.linalg.norm(e, axis=1, keepdims=True)


def test_agreement_and_calibration() -> None:
    assert cluster_agreement(["p1", "p1", "p2", None], [5, 5, 7, 7]) == 0.75
    assert cluster_agreement(["p1", "p2", "p3"], [0, 0, 0]) == pytest.approx(1 / 3)
    rng = np.random.default_rng(5)
    looks = _unit_rows(rng.normal(size=(4, 128)))
    truth = [int(i) for i in rng.integers(0, 4, 40)]
    tracklets = [_unit_rows(looks[t] + rng.normal(scale=0.08, size=(5, 128))) for t in truth]
    threshold, agreement = calibrate_threshold(tracklets, truth)
    assert agreement == 1.0 and 0.3 <= threshold < 0.95
    # raw dlib-like vectors: people 1.0 apart, samples 0.1 around them
    raw = np.concatenate([looks[t] + rng.normal(scale=0.01, size=128) for t in truth])
    assert cluster_agreement([str(c) for c in reference_clusters(raw.reshape(40, 128))], truth) == 1.0
