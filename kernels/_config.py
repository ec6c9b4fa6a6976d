"""Compile flags shared by every kernel, in one place (as STUMPY's `config.py`).

`cache=True` keeps compiled machine code in `__pycache__` so a worker does not pay the
compile time again at each start; `nogil=True` lets decode/IO threads run beside a kernel.
`fastmath` stays off: the kernels promise NaN propagation, which fastmath may drop.
Set NUMBA_DISABLE_JIT=1 to run the kernel bodies as plain Python (tests, coverage).
"""

from __future__ import annotations

JIT_FLAGS: dict[str, bool] = {"cache": True, "nogil": True}
