"""The command line as a user meets it: one-line errors, exit codes, timelines, read-only SQL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from vstream.weights import test_video_path


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
