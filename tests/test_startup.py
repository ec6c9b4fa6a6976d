"""Start-up: what a process imports before it needs it.

`import torch` alone costs seconds (more than PySceneDetect's whole run on a short clip), numba
with its cached kernels 0.9 s (the kernels' ahead-of-time build replaces it) and scipy.optimize
half a second, so torch and scipy.optimize are imported where a frame model runs or a tracker
assigns, never at a module's top on the way there; the shot detector's network runs through
onnxruntime, which is imported on the first candidate that needs it. These tests run a fresh
interpreter and read its `sys.modules`, so a new module-level import on the path fails here
rather than as a slower `vstream index` nobody times. Nothing is timed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from video_clips import encode_clip

pytestmark = pytest.mark.integration  # each test runs a child interpreter

#: imported only where they are used: a frame model runs (torch), a tracker assigns
#: (scipy.optimize), the shot detector's network confirms a candidate (onnxruntime); numba
#: never, given the kernels' ahead-of-time build (scripts/setup.sh makes it; tests/kernels/
#: test_build.py says when it is missing)
HEAVY = ("torch", "scipy.optimize", "onnxruntime", "numba")


def _imported_after(code: str) -> list[str]:
    """Which of HEAVY a fresh interpreter has imported after running `code`."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_cli_imports_no_torch_and_no_scipy_optimize() -> None:
    assert _imported_after("import vstream.cli") == []


def _index_imports(tmp_path: Path, frames: range) -> list[str]:
    clip = encode_clip(tmp_path / "clip.mp4", frames)
    argv = ["index", str(clip), "--model", "none", "--no-progress", "--quiet",
            "--store", f"chdb://{tmp_path / 'store'}"]
    return _imported_after(f"from vstream.cli import main\nassert main({argv!r}) == 0")


def test_index_with_model_none_imports_nothing_heavy_when_no_candidate_needs_the_network(
        tmp_path: Path) -> None:
    # one second of the test video: one hard cut, which the strict content detector settles alone
    assert _index_imports(tmp_path, range(25)) == []


def test_the_shot_network_confirms_a_candidate_without_importing_torch(tmp_path: Path) -> None:
    # frames 1850-1949 of the test video: a soft change at 1891 that only the network can judge
    assert _index_imports(tmp_path, range(1850, 1950)) == ["onnxruntime"]

