"""Stopping a child process the same way everywhere: ask, wait, then insist."""

from __future__ import annotations

import subprocess


def stop_process(process: subprocess.Popen, timeout_s: float = 10.0, *, kill: bool = False) -> None:
    """Stop `process` if it still runs (idempotent): SIGTERM (SIGKILL with `kill`: a crash),
    then wait up to `timeout_s` for it to exit, else SIGKILL and reap it."""
    if process.poll() is not None:
        return
    if kill:
        process.kill()
    else:
        process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
