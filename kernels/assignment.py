"""Minimum-cost one-to-one assignment of a rectangular cost matrix (the trackers' matching).

The shortest augmenting path algorithm (Crouse, "On implementing 2D rectangular assignment
algorithms", IEEE TAES 52(4), 2016, pp. 1685-1686) as SciPy's `linear_sum_assignment` runs it
(`scipy/optimize/rectangular_lsap`), step for step, so the two agree on ties too
(tests/kernels/test_assignment.py checks them against each other). Here because importing
scipy.optimize costs a tracking process 0.4-0.8 s of its start.
"""

from __future__ import annotations

import numpy as np

from ._checks import require_dtype, require_ndim
from ._compile import kernel


@kernel("void(float64[:, ::1], int64[::1])")
def _assign_rows(cost: np.ndarray, col4row: np.ndarray) -> None:
    """Fill col4row (nr,) with the column of each row; nr <= nc; every entry finite."""
    nr = cost.shape[0]
    nc = cost.shape[1]
    u = np.zeros(nr)
    v = np.zeros(nc)
    shortest = np.empty(nc)
    path = np.full(nc, -1, np.int64)
    row4col = np.full(nc, -1, np.int64)
    seen_rows = np.zeros(nr, np.bool_)
    seen_cols = np.zeros(nc, np.bool_)
    remaining = np.empty(nc, np.int64)
    for r in range(nr):
        col4row[r] = -1
    for cur in range(nr):
        # the shortest augmenting path from row `cur` to a free column
        for it in range(nc):
            # reverse order: a constant cost matrix gives the identity (SciPy's #11602)
            remaining[it] = nc - it - 1
        seen_rows[:] = False
        seen_cols[:] = False
        shortest[:] = np.inf
        num_remaining = nc
        min_val = 0.0
        i = cur
        sink = -1
        while sink == -1:
            index = -1
            lowest = np.inf
            seen_rows[i] = True
            for it in range(num_remaining):
                j = remaining[it]
                reduced = min_val + cost[i, j] - u[i] - v[j]
                if reduced < shortest[j]:
                    path[j] = i
                    shortest[j] = reduced
                # of equally short columns, a free one: it ends the path
                if shortest[j] < lowest or (shortest[j] == lowest and row4col[j] == -1):
                    lowest = shortest[j]
                    index = it
            min_val = lowest
            j = remaining[index]
            if row4col[j] == -1:
                sink = j
            else:
                i = row4col[j]
            seen_cols[j] = True
            num_remaining -= 1
            remaining[index] = remaining[num_remaining]
        # dual variables
        u[cur] += min_val
        for r in range(nr):
            if seen_rows[r] and r != cur:
                u[r] += min_val - shortest[col4row[r]]
        for c in range(nc):
            if seen_cols[c]:
                v[c] -= min_val - shortest[c]
        # augment along the path
        j = sink
        while True:
            i = path[j]
            row4col[j] = i
            j, col4row[i] = col4row[i], j
            if i == cur:
                break


def linear_sum_assignment(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows and columns (both int64, rows ascending) of the one-to-one matching of the
    (n, m) float32/float64 `cost` that minimises the summed cost, min(n, m) pairs; SciPy's
    `linear_sum_assignment` without its options. Every entry must be finite (give impossible
    pairs a large finite cost)."""
    require_dtype("cost", cost, (np.float32, np.float64))
    require_ndim("cost", cost, 2, "an (n, m) matrix")
    if not np.all(np.isfinite(cost)):
        raise ValueError("cost must be finite: give impossible pairs a large finite cost")
    n, m = cost.shape
    if n == 0 or m == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # as SciPy does: a tall matrix is solved transposed (rows are then sorted)
    transpose = m < n
    work = (cost.T if transpose else cost).astype(np.float64)
    work = np.ascontiguousarray(work)
    col4row = np.empty(work.shape[0], np.int64)
    _assign_rows(work, col4row)
    if transpose:
        order = np.argsort(col4row)
        return col4row[order], order.astype(np.int64)
    return np.arange(n, dtype=np.int64), col4row
