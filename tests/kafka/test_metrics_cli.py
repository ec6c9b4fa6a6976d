"""`--metrics-port` of `vstream ingest` and `vstream worker`: real processes, real broker, scraped
over HTTP while they run."""

from __future__ import annotations

import os
import signal
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
    # No exit flag: the worker runs until the test has scraped every chunk (a state), then gets
    # Ctrl-C, so the scrape cannot miss the end however fast or slow the machine is.
    worker = subprocess.Popen(
        [sys.executable, "-m", "vstream", "worker", "--kafka", kafka_broker, "--topic", topic,
         "--store", f"chdb://{tmp_path}/store", "--group", "mcli",
         "--shots", "fast", "--model", "none", "--metrics-port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    processed = ("vstream_chunks_processed_total", (("stream_id", "short"),))
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        seen: dict = {}
        deadline = time.monotonic() + 90  # a hang guard
        while worker.poll() is None and seen.get(processed, 0) < chunks:
            assert time.monotonic() < deadline, "hang guard: the worker's metrics never " \
                f"counted {chunks} chunks (last scrape: {seen.get(processed)})"
            seen = _scrape(url) or seen
            time.sleep(0.2)
        worker.send_signal(signal.SIGINT)
        out, err = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 130, err[-2000:]  # stopped by Ctrl-C, as the test meant
    assert f":{port}/metrics" in err and "Traceback" not in err
    assert seen[processed] == chunks  # scraped while it ran: every chunk
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
