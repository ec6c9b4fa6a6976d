"""vstream.metrics and the metrics_port setting, without a broker."""

from __future__ import annotations

import socket
import threading
import urllib.request
from fractions import Fraction

import pytest
from prometheus_client import generate_latest

from vstream.chunk import GopChunk, Packet
from vstream.config import load_settings
from vstream.errors import VStreamError
from vstream.ingest.ingester import ingest
from vstream.metrics import Metrics


class _Sink:
    def send(self, chunk: GopChunk) -> None:
        pass


def _chunks(stream_id: str, n: int) -> list[GopChunk]:
    return [GopChunk(stream_id, i, "h264", b"", 16, 16, Fraction(1, 25), Fraction(25), i,
                     (Packet(b"k", i, i, 1, True),)) for i in range(n)]


def test_labels_never_carry_credentials() -> None:
    metrics = Metrics()
    stop = threading.Event()

    def chunks_of(source, stream_id, options):
        yield from _chunks(stream_id, 2)
        stop.set()

    ingest("rtsp://admin:hunter2@10.0.0.7/stream1", "cam7", _Sink(), stop=stop,
           chunks_of=chunks_of, metrics=metrics)
    text = generate_latest(metrics.registry).decode()
    assert "hunter2" not in text and "admin" not in text
    assert 'source="rtsp://***@10.0.0.7/stream1"' in text
    assert metrics.value("vstream_ingest_source_info", stream_id="cam7",
                         source="rtsp://***@10.0.0.7/stream1", live="true") == 1


def test_serve_exposes_only_vstream_metrics_and_a_taken_port_is_one_line() -> None:
    metrics = Metrics()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = metrics.serve(port, addr="127.0.0.1")
    try:
        assert url == f"http://127.0.0.1:{port}/metrics"
        body = urllib.request.urlopen(url, timeout=5).read().decode()
        names = {line.split()[2] for line in body.splitlines() if line.startswith("# TYPE")}
        assert names and all(n.startswith("vstream_") for n in names)  # own registry, no python_*
        with pytest.raises(VStreamError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            Metrics().serve(port, addr="127.0.0.1")
    finally:
        metrics.close()
    with pytest.raises(OSError):  # closed: nothing answers any more
        urllib.request.urlopen(url, timeout=2)


@pytest.mark.parametrize(("env", "flag", "expected", "error"), [
    (None, None, 0, None),
    ("9108", None, 9108, None),
    ("9108", 9200, 9200, None),
    ("nine", None, None, "must be an integer"),
    ("70000", None, None, "metrics_port must be 0"),
])
def test_metrics_port_setting(monkeypatch, tmp_path, env, flag, expected, error) -> None:
    monkeypatch.chdir(tmp_path)  # no vstream.toml
    monkeypatch.delenv("VSTREAM_CONFIG", raising=False)
    if env is None:
        monkeypatch.delenv("VSTREAM_METRICS_PORT", raising=False)
    else:
        monkeypatch.setenv("VSTREAM_METRICS_PORT", env)
    if error:
        with pytest.raises(VStreamError, match=error):
            load_settings({"metrics_port": flag})
    else:
        assert load_settings({"metrics_port": flag}).metrics_port == expected


def test_metrics_port_from_toml(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VSTREAM_CONFIG", raising=False)
    monkeypatch.delenv("VSTREAM_METRICS_PORT", raising=False)
    (tmp_path / "vstream.toml").write_text("metrics_port = 9555\n")
    assert load_settings().metrics_port == 9555
