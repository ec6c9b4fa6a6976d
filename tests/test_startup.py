"""Start-up: what a process imports before it needs it.

`import torch` alone costs seconds (more than PySceneDetect's whole run on a short clip), and
scipy.optimize half a second, so both are imported where a network runs or a tracker assigns,
never at a module's top on the way there. These tests run a fresh interpreter and read its
`sys.modules`, so a new module-level import on the path fails here rather than as a slower
`vstream index` nobody times. Nothing is timed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from video_clips import encode_clip

pytestmark = pytest.mark.integration  # each test runs a child interpreter

#: imported only where they are used: a network runs (torch) or a tracker assigns (scipy.optimize)
HEAVY = ("torch", "scipy.optimize")


def _imported_after(code: str) -> list[str]:
    """Which of HEAVY a fresh interpreter has imported after running `code`."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_cli_imports_no_torch_and_no_scipy_optimize() -> None:
    assert _imported_after("import vstream.cli") == []


def test_index_with_model_none_imports_no_torch_when_no_candidate_needs_the_network(tmp_path: Path) -> None:
    # one second of the test video: one hard cut, which the strict content detector settles alone
    clip = encode_clip(tmp_path / "clip.mp4", range(25))
    argv = ["index", str(clip), "--model", "none", "--no-progress", "--quiet",
            "--store", f"chdb://{tmp_path / 'store'}"]
    run = f"from vstream.cli import main\nassert main({argv!r}) == 0"
    assert _imported_after(run) == []

