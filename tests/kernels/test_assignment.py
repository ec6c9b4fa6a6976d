"""`linear_sum_assignment` (kernels/assignment.py) against SciPy's, which it ports step for step:
the same pairs, ties included, on random square and rectangular matrices."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment as scipy_assignment

from vstream import kernels


def _matrices(seed: int, count: int):
    rng = np.random.default_rng(seed)
    for k in range(count):
        n, m = (int(x) for x in rng.integers(0, 9, 2))
        kind = k % 4
        if kind == 0:  # distinct costs
            yield rng.random((n, m))
        elif kind == 1:  # small integers: many ties
            yield rng.integers(0, 3, (n, m)).astype(np.float64)
        elif kind == 2:  # half the pairs impossible, as the trackers give them
            c = rng.random((n, m))
            c[rng.random((n, m)) < 0.5] = 1e5
            yield c
        else:  # mostly impossible, equal costs everywhere else
            c = np.full((n, m), 1e5)
            c[rng.random((n, m)) < 0.3] = rng.random()
            yield c


@pytest.mark.parametrize("seed", [0, 1])
def test_the_same_pairs_as_scipy(seed: int) -> None:
    for cost in _matrices(seed, 4000):
        want_rows, want_cols = scipy_assignment(cost)
        rows, cols = kernels.linear_sum_assignment(cost)
        np.testing.assert_array_equal(rows, want_rows, err_msg=str(cost))
        np.testing.assert_array_equal(cols, want_cols, err_msg=str(cost))


def test_known_assignments() -> None:
    cost = np.array([[4.0, 1.0, 3.0], [2.0, 0.0, 5.0], [3.0, 2.0, 2.0]])
    rows, cols = kernels.linear_sum_assignment(cost)
    assert rows.tolist() == [0, 1, 2] and cols.tolist() == [1, 0, 2]  # 1 + 2 + 2
    tall = np.array([[5.0], [1.0], [3.0]], np.float32)
    assert [x.tolist() for x in kernels.linear_sum_assignment(tall)] == [[1], [0]]
    assert [len(x) for x in kernels.linear_sum_assignment(np.zeros((0, 4)))] == [0, 0]
    # a constant matrix gives the identity, as SciPy's does
    rows, cols = kernels.linear_sum_assignment(np.ones((4, 4)))
    assert cols.tolist() == [0, 1, 2, 3]


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="finite"):
        kernels.linear_sum_assignment(np.array([[np.inf, 1.0]]))
    with pytest.raises(ValueError, match="dtype"):
        kernels.linear_sum_assignment(np.ones((2, 2), np.int64))
    with pytest.raises(ValueError, match="matrix"):
        kernels.linear_sum_assignment(np.ones(3))
