"""numba's JIT settings for every kernel, in one place (as STUMPY's `config.py`). Imported only
where a kernel is JIT-compiled: a process with the ahead-of-time build never imports numba
(`_compile.py`).

`cache=True` keeps compiled machine code on disk so a process does not pay the compile time again
at each start (~4 s on two cores for the shot detector's kernels; a cache hit costs numba's
own start-up, ~1 s). `nogil=True` lets decode/IO threads run beside a kernel. `fastmath` stays
off: the kernels promise NaN propagation, which fastmath may drop. Set NUMBA_DISABLE_JIT=1 to
run the kernel bodies as plain Python (tests, coverage).

Where the cache goes (numba >= 0.68 stamps it with the source's content hash, so a fresh clone or
a reinstall of the same code reuses it): `NUMBA_CACHE_DIR` if set, else `__pycache__` beside
these files (a clone, an editable or a user install), else numba's user cache directory
(`~/.cache/numba`: a read-only install). Where none of those is writable (a read-only install
run by a user without a home, as in some containers) numba refuses `cache=True` at import with
"no locator available"; `_ensure_cache_dir` then points numba at a per-user directory under
the system's temporary directory instead, so the kernels import and still cache.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numba
from numba.misc.appdirs import AppDirs

from ._compile import writable_directory


def _ensure_cache_dir() -> None:
    if numba.config.CACHE_DIR or numba.config.DISABLE_JIT:
        return
    if writable_directory(Path(__file__).parent / "__pycache__"):
        return
    if writable_directory(Path(AppDirs(appname="numba", appauthor=False).user_cache_dir)):
        return
    user = os.getuid() if hasattr(os, "getuid") else os.getlogin()
    numba.config.CACHE_DIR = os.path.join(tempfile.gettempdir(), f"vstream-numba-cache-{user}")


_ensure_cache_dir()

JIT_FLAGS: dict[str, bool] = {"cache": True, "nogil": True}
