"""How long to wait before trying again: exponential back-off with full jitter.

Shared by everything that retries something that is down: ingest reconnecting to a live source,
the worker retrying the store.
"""

from __future__ import annotations

import random
from collections.abc import Callable


def backoff_s(attempt: int, *, base: float = 0.5, cap: float = 30.0,
              rand: Callable[[], float] = random.random) -> float:
    """Exponential back-off with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return rand() * min(cap, base * 2 ** min(attempt, 30))
