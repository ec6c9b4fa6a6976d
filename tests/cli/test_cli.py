"""The command line as a user meets it: one-line errors, exit codes, timelines, read-only SQL."""

from __future__ import annotations

import json
import socket
import signal
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from vstream.weights import test_video_path

pytestmark = pytest.mark.integration  # each test runs vstream as a child process


def vstream(*args: str, store: Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vstream", *args, "--store", f"chdb://{store}"],
        capture_output=True, text=True, cwd=cwd, timeout=600,
    )


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    text = d / "notes.mp4"
    text.write_text("this is a shopping list, not a video\n" * 20)
    blob = test_video_path().read_bytes()
    truncated = d / "truncated.mp4"
    truncated.write_bytes(blob[: len(blob) // 3])
    audio = d / "voice.m4a"
    with av.open(str(audio), "w") as out:
        s = out.add_stream("aac", rate=16000)
        t = np.arange(16000) / 16000
        frame = av.AudioFrame.from_ndarray((0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None], format="fltp", layout="mono")
        frame.sample_rate = 16000
        for p in s.encode(frame):
            out.mux(p)
        for p in s.encode():
            out.mux(p)
    return {"missing": d / "nope.mp4", "text": text, "truncated": truncated, "audio": audio}


def test_bad_inputs_get_one_line_each_and_the_good_file_is_still_indexed(bad_inputs, short_video, tmp_path) -> None:
    store = tmp_path / "store"
    paths = [str(bad_inputs["missing"]), str(bad_inputs["text"]), str(short_video),
             str(bad_inputs["truncated"]), str(bad_inputs["audio"])]
    r = vstream("index", "--shots", "fast", "--no-progress", *paths, store=store, cwd=tmp_path)
    assert r.returncode != 0
    errors = [line for line in r.stderr.splitlines() if line.strip()]
    assert "Traceback" not in r.stderr
    assert len(errors) == 4, r.stderr
    assert all(line.startswith("vstream: error: ") for line in errors)
    expect = {"nope.mp4": "no such file", "notes.mp4": "not a readable video",
              "truncated.mp4": "", "voice.m4a": "no video stream"}
    for name, reason in expect.items():
        line = next(e for e in errors if name in e)
        assert reason in line
    assert "short.mp4: stream 'short'" in r.stdout
    q = vstream("sql", "SELECT count() AS n FROM scenes WHERE stream_id = 'short'", "--format", "json",
                store=store, cwd=tmp_path)
    assert q.returncode == 0, q.stderr
    assert json.loads(q.stdout)["n"] > 0


def test_index_prints_timeline_and_reindex_adds_nothing(short_video, tmp_path) -> None:
    store = tmp_path / "store"
    first = vstream("index", "--shots", "fast", "--no-progress", str(short_video), store=store, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    timeline = [line for line in first.stdout.splitlines() if line.strip().startswith("scene ")]
    assert len(timeline) >= 3
    assert timeline[0].split()[2].startswith("00:00:00.0–")
    assert timeline[-1].split()[2].endswith("00:00:16.0")  # 400 frames at 25 fps
    again = vstream("index", "--shots", "fast", "--no-progress", str(short_video), store=store, cwd=tmp_path)
    assert again.returncode == 0
    assert ", 0 new rows in " in again.stdout
    count = vstream("sql", "SELECT count() AS n FROM scenes", "--format", "json", store=store, cwd=tmp_path)
    assert json.loads(count.stdout)["n"] == len(timeline)
    listed = vstream("streams", "--format", "json", store=store, cwd=tmp_path)
    [stream] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert stream["stream_id"] == "short" and stream["scenes"] == len(timeline)
    assert stream["source"] == str(short_video.resolve()) and stream["length"] == "00:00:16.0"
    shown = vstream("scenes", "short", store=store, cwd=tmp_path)
    assert shown.returncode == 0
    assert [line.split()[:3] for line in shown.stdout.splitlines()[1:]] == [t.split()[:3] for t in timeline]


@pytest.mark.parametrize(
    ("query", "code", "message"),
    [
        ("DROP TABLE scenes", 6, "read-only"),
        ("INSERT INTO scenes (stream_id) VALUES ('x')", 6, "read-only"),
        ("SELECT 1; DROP TABLE scenes", 6, "read-only"),
        ("SELECT nonsense FROM nowhere", 5, ""),
    ],
)
def test_sql_refuses_writes_and_reports_errors_in_one_line(query, code, message, tmp_path) -> None:
    r = vstream("sql", query, store=tmp_path / "store", cwd=tmp_path)
    assert r.returncode == code
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_unknown_stream_and_bad_store_url_are_one_line_errors(tmp_path) -> None:
    r = vstream("scenes", "never-indexed", store=tmp_path / "store", cwd=tmp_path)
    assert r.returncode != 0 and "no scenes stored" in r.stderr
    r = subprocess.run([sys.executable, "-m", "vstream", "scenes", "x", "--store", "ftp://nope"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1


def _sql_process(tmp_path: Path, query: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "vstream", "-v", "sql", query, *args,
         "--store", f"chdb://{tmp_path / 'store'}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)


def _wait_for_line(stream, text: str) -> None:
    for line in stream:  # blocks until the process writes (or exits): a state, not a clock
        if text in line:
            return
    raise AssertionError(f"the process ended before printing {text!r}")


def _interrupt(proc: subprocess.Popen, signum: int = signal.SIGINT) -> tuple[int, float, str]:
    """Send `signum` (Ctrl-C's by default) and wait for the process to end. The queries below
    would run for hours: ending at all within the wait is the proof that the signal stopped
    them; how soon is printed, not asserted (it measures the machine)."""
    import time

    start = time.monotonic()
    proc.send_signal(signum)
    code = proc.wait(timeout=120)
    seconds = time.monotonic() - start
    print(f"stopped {seconds:.2f} s after {signal.Signals(signum).name}")
    return code, seconds, proc.stderr.read()


def test_ctrl_c_stops_a_query_the_engine_is_busy_with(tmp_path) -> None:
    # an aggregate over 10^12 rows: the engine sends nothing for a long time
    proc = _sql_process(tmp_path, "SELECT count() FROM numbers(1000000000000) "
                        "WHERE sipHash64(number) = 1")
    _wait_for_line(proc.stderr, "running the query")
    code, seconds, err = _interrupt(proc)
    assert code == 130, (code, seconds, err)
    assert "vstream: interrupted" in err and "Traceback" not in err


def test_sigterm_stops_a_query_as_ctrl_c_does(tmp_path) -> None:
    # `docker stop`, `systemctl stop`: the command unwinds (the query is cancelled) and says so
    proc = _sql_process(tmp_path, "SELECT count() FROM numbers(1000000000000) "
                        "WHERE sipHash64(number) = 1")
    _wait_for_line(proc.stderr, "running the query")
    code, seconds, err = _interrupt(proc, signal.SIGTERM)
    assert code == 143, (code, seconds, err)
    assert err.strip().splitlines()[-1] == "vstream: terminated" and "Traceback" not in err


def test_ctrl_c_stops_a_streaming_query(tmp_path) -> None:
    proc = _sql_process(tmp_path, "SELECT number FROM numbers(1000000000000)", "--format", "csv")
    assert proc.stdout.readline().strip() == "number"
    assert proc.stdout.readline().strip() == "0"  # rows arrive while the query runs
    code, seconds, err = _interrupt(proc)
    assert code == 130, (code, seconds, err)
    assert "Traceback" not in err


def test_timeout_stops_the_query_with_one_line(tmp_path) -> None:
    r = vstream("sql", "SELECT count() FROM numbers(1000000000000) WHERE sipHash64(number) = 1",
                "--timeout", "1", store=tmp_path / "store", cwd=tmp_path)
    assert r.returncode == 5
    assert r.stderr.strip() == "vstream: error: the query ran past --timeout 1 s and was stopped"


def test_table_output_says_what_limit_cut(tmp_path) -> None:
    r = vstream("sql", "SELECT number FROM system.numbers LIMIT 5000", "--limit", "3",
                store=tmp_path / "store", cwd=tmp_path)
    assert r.returncode == 0
    assert r.stdout.split() == ["number", "------", "0", "1", "2"]
    assert "showing the first 3 rows" in r.stderr
    full = vstream("sql", "SELECT number FROM system.numbers LIMIT 70000", "--format", "csv",
                   store=tmp_path / "store", cwd=tmp_path)
    assert full.stdout.splitlines()[-1] == "69999" and len(full.stdout.splitlines()) == 70001


@pytest.mark.parametrize(
    ("query", "code", "says"),
    [
        ("WITH 1 AS x INSERT INTO scenes (row_id, stream_id, scene_index) SELECT 999, 'x', 0", 5,
         "SYNTAX_ERROR"),
        ("WITH 1 AS x INSERT INTO FUNCTION file('{tmp}/victim.txt', 'RawBLOB', 'a String') "
         "SELECT 'overwritten' SETTINGS engine_file_truncate_on_insert=1", 5, "SYNTAX_ERROR"),
        # the friendly check misreads these two (nested comments, a $$ glued to a name); the
        # engine's parser refuses the ';' inside the subquery
        ("SELECT 1 /* /* */ ' */ ; DROP TABLE scenes; -- '", 5, "SYNTAX_ERROR"),
        ("SELECT 1 AS x$$; CREATE TABLE pwn (a UInt8) ENGINE=Memory; SELECT 1 AS y$$", 5,
         "SYNTAX_ERROR"),
        ("SELECT * FROM file('/etc/shadow', 'LineAsString')", 6, "table function file()"),
        ("SELECT * FROM url('http://127.0.0.1:1/x', 'LineAsString')", 6, "table function url()"),
        ("EXPLAIN PIPELINE INSERT INTO FUNCTION file('{tmp}/x.txt', 'RawBLOB', 'a String') "
         "SELECT 'x'", 6, "EXPLAIN works here as"),
        ("SELECT 1 FORMAT CSV", 6, "drop FORMAT CSV and use --format"),
        ("SELECT 1 FORMAT Parquet", 6, "drop FORMAT Parquet"),
    ],
)
def test_reported_probes_get_one_clear_line(query: str, code: int, says: str, tmp_path) -> None:
    r = vstream("sql", query.replace("{tmp}", str(tmp_path)), store=tmp_path / "store",
                cwd=tmp_path)
    assert r.returncode == code, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and says in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]


def test_an_unreachable_server_store_is_one_line_with_no_driver_traceback(short_video,
                                                                          tmp_path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = subprocess.run(
        [sys.executable, "-m", "vstream", "index", str(short_video), "--store",
         f"clickhouse://u:s3cret@127.0.0.1:{port}/db"],
        capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 5
    assert r.stderr.strip().splitlines() == [
        f"vstream: error: cannot connect to clickhouse://***@127.0.0.1:{port}/db: Code: 210. "
        f"Connection refused (127.0.0.1:{port})"]
