"""No credential anywhere a user or an operator can see it (issue 11), end to end.

A local HTTP server serves a real clip only to basic auth with a nasty password and a `token`
query parameter. `vstream index` and `vstream ingest` run on its URL as child processes, with
-vv (library logs too); their output, every value of every table of the store, every Kafka
message and the Prometheus scrape are searched for the password (raw, in each percent-encoded
form and as the base64 of the Authorization header) and the token. The server counts the
requests it let through, so each test knows the secrets really were used.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from kafka_messages import new_topic, read_all  # tests/ is on pythonpath (pyproject)
from video_clips import encode_clip
from vstream.chunk import GopChunk
from vstream.drivers.index import stream_id_for
from vstream.store import open_store

pytestmark = pytest.mark.integration  # an HTTP server, child processes and a broker

USER = "cam"
PASSWORD = "p@ss:w/rd%40x"  # '@', ':' and '/' split URLs; '%40' is what a decoder unquotes
TOKEN = "SECRET123"
# Every form in which a secret could show: as given, percent-encoded (wholly, or all but '@'
# and ':'), percent-decoded once too many, parts of it, and as it travels in the header.
SECRETS = (
    PASSWORD, quote(PASSWORD, safe=""), quote(PASSWORD, safe="@:"), "p@ss:w/rd@x", "p%40ss",
    "rd%40x", "rd%2540x", "w%2Frd", base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(),
    TOKEN,
)
#: the password in the URL's userinfo: every character FFmpeg would split at encoded, or only
#: '/' and '%' (FFmpeg takes the userinfo to the last '@' before the first '/', and unquotes it)
USERINFO_FORMS = {"encoded": quote(PASSWORD, safe=""), "raw_at_colon": quote(PASSWORD, safe="@:")}
CLIP_FRAMES = 100
# A child process's bound: a safety net for a hang, never the pace of a test.
RUN_TIMEOUT_S = 120


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ClipServer:
    """A ThreadingHTTPServer on a free loopback port that serves `data` (with byte ranges, as
    FFmpeg seeks an MP4 whose index is at its end) at any path, only with the right basic auth
    (else 401) and ?token= (else 403)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.served = 0  # requests that passed both checks
        self.refused: list[int] = []
        server = self
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # pytest's output is no place for it either
                pass

            def do_GET(self) -> None:
                if self.headers.get("Authorization") != expected:
                    return self._refuse(401, {"WWW-Authenticate": 'Basic realm="cam"'})
                if parse_qs(urlsplit(self.path).query).get("token") != [TOKEN]:
                    return self._refuse(403, {})
                server.served += 1
                start, end = 0, len(server.data) - 1
                wanted = self.headers.get("Range", "")
                if wanted.startswith("bytes="):
                    first, _, last = wanted[len("bytes="):].partition("-")
                    start, end = int(first), min(int(last) if last else end, end)
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{end}/{len(server.data)}")
                else:
                    self.send_response(200)
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Type", "video/mp4")
                self.send_header("Content-Length", str(end - start + 1))
                self.end_headers()
                try:
                    self.wfile.write(server.data[start:end + 1])
                except (BrokenPipeError, ConnectionResetError):  # the reader had enough
                    pass

            def _refuse(self, status: int, headers: dict[str, str]) -> None:
                server.refused.append(status)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self.port = self._http.server_address[1]
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "/live", *, password: str | None = None, token: str = TOKEN,
            port: int | None = None) -> str:
        userinfo = f"{USER}:{USERINFO_FORMS['encoded'] if password is None else password}"
        return f"http://{userinfo}@127.0.0.1:{port or self.port}{path}?token={token}"

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()


@pytest.fixture(scope="module")
def clip_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClipServer]:
    clip = encode_clip(tmp_path_factory.mktemp("cred") / "clip.mp4", range(CLIP_FRAMES))
    server = ClipServer(clip.read_bytes())
    try:
        yield server
    finally:
        server.close()


def _vstream(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vstream", "-vv", *args], capture_output=True,
                          text=True, timeout=RUN_TIMEOUT_S, stdin=subprocess.DEVNULL)


def _dump_store(url: str) -> dict[str, list[tuple]]:
    """Every row of every table of the store, read by vstream's own backend."""
    with open_store(url) as store:
        tables = store.backend.query(
            "SELECT name FROM system.tables WHERE database = currentDatabase()").rows
        return {name: store.backend.query(f"SELECT * FROM `{name}`").rows for (name,) in tables}


# --- the default stream ID of a URL ---------------------------------------------------------------

@pytest.mark.parametrize(("source", "stream_id"), [
    ("talk.mp4", "talk"),
    ("/videos/a:b@c.mp4", "a:b@c"),  # a path, not a URL: kept whole
    ("rtsp://cam1/live", "live"),
    ("https://cdn.example/v/talk.mp4?sig=zq1", "talk"),
    ("http://u:zq1@cam1:8080/live?token=zq2", "live"),  # the query was part of the ID
    ("rtsp://u:zq1@cam1:554", "cam1"),  # no path: the userinfo was the ID
    ("http://u:z/q1@cam1?token=zq2", "cam1"),  # '/' in the password
    ("http://u:zq1@[::1]:8080", "::1"),
    ("rtsp://u:zq1@cam1/s;token=zq2", "s"),
    ("http://u:zq1@[::1", "http"),  # unparsable: never the text after the scheme
])
def test_default_stream_id_of_a_url_holds_no_credential(source: str, stream_id: str) -> None:
    assert stream_id_for(source) == stream_id


# --- vstream index --------------------------------------------------------------------------------

@pytest.mark.parametrize(("form", "path", "stream_id"), [
    ("encoded", "/live", "live"),
    ("raw_at_colon", "/live", "live"),
    ("encoded", "", "127.0.0.1"),  # no path: the default stream ID comes from the host
])
def test_index_of_an_authenticated_url_shows_no_secret(
        clip_server: ClipServer, tmp_path: Path, form: str, path: str, stream_id: str) -> None:
    served = clip_server.served
    store = f"chdb://{tmp_path}/store"
    url = clip_server.url(path, password=USERINFO_FORMS[form])
    run = _vstream("index", url, "--store", store, "--model", "none", "--shots", "fast",
                   "--no-progress")
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    shown = f"http://***@127.0.0.1:{clip_server.port}{path}?token=***"
    assert f"{shown}: stream {stream_id!r}, " in run.stdout
    assert f"{CLIP_FRAMES} frames" in run.stdout
    assert clip_server.served > served  # the secrets were used, and accepted
    assert leaks(output) == []

    tables = _dump_store(store)
    assert {"streams", "scenes"} <= tables.keys()
    assert [row for row in tables["streams"] if shown in repr(row)]  # the source, redacted
    assert len(tables["scenes"]) > 1
    assert {name: leaks(repr(rows)) for name, rows in tables.items() if leaks(repr(rows))} == {}


@pytest.mark.parametrize("failure", ["wrong_password", "wrong_token", "unreachable"])
def test_index_failure_is_one_line_without_a_secret(
        clip_server: ClipServer, tmp_path: Path, failure: str) -> None:
    refused = len(clip_server.refused)
    url = {
        "wrong_password": clip_server.url(password=quote("p@ss:w/rd%40y", safe="")),
        "wrong_token": clip_server.url(token="SECRET124"),
        "unreachable": clip_server.url(port=_free_port()),  # nothing listens there
    }[failure]
    run = _vstream("index", url, "--store", f"chdb://{tmp_path}/store", "--model", "none",
                   "--shots", "fast", "--no-progress")
    shown = "http://***@127.0.0.1:"
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 1 and run.stdout == ""
    assert len(lines) == 1 and lines[0].startswith(f"vstream: error: {shown}"), run.stderr
    assert lines[0].endswith({"wrong_password": "(Server returned 401 Unauthorized "
                                                "(authorization failed))",
                              "wrong_token": "(Server returned 403 Forbidden (access denied))",
                              "unreachable": "(Connection refused)"}[failure])
    if failure != "unreachable":
        assert len(clip_server.refused) > refused  # it was the server that said no
    assert leaks(run.stderr) == []
    # the wrong secrets do not show either
    assert "rd%40y" not in run.stderr and "rd%2540y" not in run.stderr
    assert "SECRET124" not in run.stderr


# --- vstream ingest: logs, Kafka messages, metrics ------------------------------------------------

def _scrape(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return response.read().decode()
    except OSError:
        return None


def _sample(scrape: str, name: str, stream_id: str = "cam1") -> float:
    prefix = f'{name}{{stream_id="{stream_id}"}} '
    return next((float(line[len(prefix):]) for line in scrape.splitlines()
                 if line.startswith(prefix)), 0.0)


def _ingest_until(url: str, kafka: str, topic: str, tmp_path: Path,
                  reached) -> tuple[str, str, str]:
    """Run `vstream -vv ingest url` with metrics served until `reached(scrape)` is true; then
    scrape once more and stop it with Ctrl-C. Returns (that scrape, stdout, stderr)."""
    port = _free_port()
    out_path, err_path = tmp_path / "ingest.out", tmp_path / "ingest.err"
    with open(out_path, "w") as out, open(err_path, "w") as err:  # -vv is too much for a pipe
        ingest = subprocess.Popen(
            [sys.executable, "-m", "vstream", "-vv", "ingest", url, "--stream-id", "cam1",
             "--kafka", kafka, "--topic", topic, "--metrics-port", str(port)],
            stdout=out, stderr=err, stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            deadline = time.monotonic() + RUN_TIMEOUT_S
            scrape = None
            while ingest.poll() is None and time.monotonic() < deadline:
                scrape = _scrape(port)
                if scrape is not None and reached(scrape):
                    break
                time.sleep(0.1)  # polls a state; the deadline is only a safety net
            assert ingest.poll() is None, err_path.read_text()[-3000:]
            assert scrape is not None and reached(scrape), "the state was never reached"
            last = _scrape(port) or scrape  # right before it stops, with what came since
            ingest.send_signal(signal.SIGINT)
            assert ingest.wait(timeout=RUN_TIMEOUT_S) == 130  # "vstream: interrupted"
        finally:
            if ingest.poll() is None:
                ingest.kill()
                ingest.wait()
    return last, out_path.read_text(), err_path.read_text()


def test_ingest_shows_no_secret_in_logs_messages_or_metrics(
        clip_server: ClipServer, kafka_broker: str, tmp_path: Path) -> None:
    """An http URL is a live source: ingest sends the clip, sees it end, reopens it and sends
    it again with a gap (whose reason travels in a chunk). Stopped once that gap is counted."""
    topic = new_topic(kafka_broker, "test.cred")
    served = clip_server.served
    url = clip_server.url(password=USERINFO_FORMS["raw_at_colon"])
    scrape, out, err = _ingest_until(
        url, kafka_broker, topic, tmp_path,
        lambda s: _sample(s, "vstream_ingest_gaps_total") >= 1
        and _sample(s, "vstream_chunks_produced_total") >= 2)
    assert clip_server.served > served
    shown = f"http://***@127.0.0.1:{clip_server.port}/live?token=***"
    assert f'source="{shown}"' in scrape  # vstream_ingest_source_info, redacted
    assert _sample(scrape, "vstream_ingest_reconnects_total") >= 1
    assert f"{shown}: stream cam1 lost (source ended); reopening" in err
    assert " DEBUG kafka" in err  # -vv: the Kafka client's own logs are searched too
    assert leaks(scrape) == []
    assert leaks(out + err) == []

    produced = int(_sample(scrape, "vstream_chunks_produced_total"))
    messages = read_all(kafka_broker, topic, produced)
    assert len(messages) >= produced
    chunks = [GopChunk.from_bytes(m.value) for m in messages]
    assert {c.source for c in chunks} == {shown}
    assert [c.gap_reason for c in chunks if c.gap_reason] != []  # the gap's reason was sent
    raw = repr([(m.key, m.value, m.headers) for m in messages])
    assert leaks(raw) == []


def test_ingest_refused_source_shows_no_secret(
        clip_server: ClipServer, kafka_broker: str, tmp_path: Path) -> None:
    """A live source that refuses the password is retried: each retry's line, and the metrics,
    stay free of the secrets (the wrong password's and the token)."""
    topic = new_topic(kafka_broker, "test.cred")
    refused = len(clip_server.refused)
    url = clip_server.url(password=quote("p@ss:w/rd%40y", safe="@:"))
    scrape, out, err = _ingest_until(
        url, kafka_broker, topic, tmp_path,
        lambda s: _sample(s, "vstream_ingest_reconnects_total") >= 2)
    assert len(clip_server.refused) > refused
    assert "(Server returned 401 Unauthorized (authorization failed))); reopening" in err
    assert _sample(scrape, "vstream_chunks_produced_total") == 0
    for text in (scrape, out, err):
        assert leaks(text) == []
        assert "rd%40y" not in text and "rd%2540y" not in text and "p@ss:w" not in text
