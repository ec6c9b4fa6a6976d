"""Where the kernels' compiled code is cached: a read-only install without a writable home must
still import (numba raises "no locator available" there) and still cache."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numba
import pytest

from vstream.kernels import _config


@pytest.mark.parametrize(
    ("writable", "preset", "expected"),
    [
        ("everything", None, None),  # a clone or a user install: __pycache__ beside the source
        ("user cache only", None, None),  # a read-only install: numba's ~/.cache/numba
        ("nothing", "/chosen", "/chosen"),  # NUMBA_CACHE_DIR wins, as numba has it
        ("nothing", None, "temp"),  # read-only install, no home: a per-user temporary directory
    ],
)
def test_cache_dir_falls_back_to_a_temporary_directory_only_when_numba_would_find_none(
        monkeypatch: pytest.MonkeyPatch, writable: str, preset: str | None, expected: str | None) -> None:
    in_tree = Path(_config.__file__).parent / "__pycache__"
    ok = {"everything": lambda d: True, "user cache only": lambda d: d != in_tree,
          "nothing": lambda d: False}[writable]
    monkeypatch.setattr(_config, "writable_directory", ok)
    monkeypatch.setattr(numba.config, "CACHE_DIR", preset or "")
    monkeypatch.setattr(numba.config, "DISABLE_JIT", 0)
    _config._ensure_cache_dir()
    if expected == "temp":
        chosen = Path(numba.config.CACHE_DIR)
        assert chosen.parent == Path(tempfile.gettempdir())
        assert chosen.name.startswith("vstream-numba-cache-")
    else:
        assert numba.config.CACHE_DIR == (expected or "")
