"""The kernels' ahead-of-time build (`kernels/_compile.py`, `kernels/build.py`): a process with
the build for its sources never imports numba; edited sources are JIT-compiled until rebuilt, with
the same results. (Results of every kernel against its NumPy reference are the other tests of this
folder, which scripts/test.sh runs with the build, JIT-compiled and as plain Python.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import vstream.kernels

KERNELS_DIR = Path(vstream.kernels.__file__).parent

#: imports the kernels package found on sys.path first, runs one kernel, reports what it used
_PROBE = """
import json, sys
import numpy as np
import {package} as k
from {package} import _compile
med, mad = k.rolling_median_mad(np.array([1.0, 5.0, 2.0, 8.0, 3.0]), 3)
print(json.dumps({{"build": _compile.ahead_of_time() is not None, "numba": "numba" in sys.modules,
                  "median": med.tolist()}}))
"""

MEDIAN = [None, 1.0, 3.0, 2.0, 5.0]  # medians of the 3 values before each position (NaN first)


def _env() -> dict[str, str]:
    """This environment without the switches the suite's extra kernel passes set."""
    return {k: v for k, v in os.environ.items() if k not in ("VSTREAM_KERNELS", "NUMBA_DISABLE_JIT")}


def _probe(package: str, cwd: Path | None = None) -> dict:
    done = subprocess.run([sys.executable, "-c", _PROBE.format(package=package)], cwd=cwd,
                          env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report["median"] = [None if m != m else m for m in report["median"]]  # NaN -> None
    return report


def test_a_process_with_the_build_for_its_sources_never_imports_numba() -> None:
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler here, so scripts/setup.sh could not build the kernels")
    report = _probe("vstream.kernels")
    assert report["build"], "no ahead-of-time build: run `python -m vstream.kernels.build`"
    assert report == {"build": True, "numba": False, "median": MEDIAN}


@pytest.mark.integration  # compiles every kernel (seconds) in a child interpreter
def test_the_builder_builds_a_copy_and_an_edited_copy_falls_back_to_the_jit(tmp_path: Path) -> None:
    copy = tmp_path / "kernels"
    shutil.copytree(KERNELS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert _probe("kernels", cwd=tmp_path) == {"build": False, "numba": True, "median": MEDIAN}

    done = subprocess.run([sys.executable, "-m", "kernels.build"], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    built = Path(done.stdout.strip())
    assert built.parent == copy / "__pycache__" and built.is_file()
    assert _probe("kernels", cwd=tmp_path) == {"build": True, "numba": False, "median": MEDIAN}

    # An edit, even a comment, is a different source: numba compiles it, same results.
    with open(copy / "temporal.py", "a") as source:
        source.write("# edited\n")
    assert _probe("kernels", cwd=tmp_path) == {"build": False, "numba": True, "median": MEDIAN}
