"""`--metrics-port` of `vstream ingest` and `vstream worker`: real processes, real broker, scraped
over HTTP while they run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

from prometheus_client.parser import text_string_to_metric_families

from vstream.kafka import dlq_topic, ensure_topics


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _scrape(url: str) -> dict[tuple[str, tuple], float] | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return None
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_cli_ingest_and_worker_serve_metrics(kafka_broker: str, short_video, tmp_path) -> None:
    topic = f"test.mcli.{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_broker, [topic, dlq_topic(topic)], 4)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    ingest_port = _free_port()
    env_ingest = {**env, "VSTREAM_METRICS_PORT": str(ingest_port)}  # the env var, not the flag
    ingest = subprocess.run(
        [sys.executable, "-m", "vstream", "ingest", str(short_video), "--stream-id", "short",
         "--kafka", kafka_broker, "--topic", topic],
        capture_output=True, text=True, timeout=120, env=env_ingest)
    assert ingest.returncode == 0, ingest.stderr
    assert f":{ingest_port}/metrics" in ingest.stderr  # the URL is logged at start
    chunks = int(ingest.stdout.split(": ")[-1].split()[0])  # "...: N chunks, ..."

    port = _free_port()
    worker = subprocess.Popen(
        [sys.executable, "-m", "vstream", "worker", "--kafka", kafka_broker, "--topic", topic,
         "--store", f"chdb://{tmp_path}/store", "--group", "mcli", "--idle-exit", "4",
         "--shots", "fast", "--model", "none", "--metrics-port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        seen = None
        deadline = time.monotonic() + 90
        while worker.poll() is None and time.monotonic() < deadline:
            got = _scrape(url)
            if got and got.get(("vstream_chunks_processed_total", (("stream_id", "short"),))):
                seen = got
            time.sleep(0.2)
        out, err = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, err[-2000:]
    assert f":{port}/metrics" in err and "Traceback" not in err
    assert seen is not None, "never scraped the worker's metrics while it ran"
    # The last scrape before exit saw every chunk (the worker idles 4 s after the last one).
    assert seen[("vstream_chunks_processed_total", (("stream_id", "short"),))] == chunks
    assert f"{chunks} chunks" in out
    assert _scrape(url) is None  # the server went away with the worker


def test_cli_taken_metrics_port_is_one_line(kafka_broker: str, short_video) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run(
            [sys.executable, "-m", "vstream", "ingest", str(short_video), "--stream-id", "x",
             "--kafka", kafka_broker, "--metrics-port", str(port)],
            capture_output=True, text=True, timeout=60)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 1 and len(lines) == 1
    assert lines[0].startswith(f"vstream: error: cannot serve metrics on 0.0.0.0:{port}")
