"""Truncated and damaged files as a user meets them: indexed as far as they decode and said to be
partial (the output line, exit code 3, `vstream streams`), holes marked by stream_gap events,
rows only for the frames indexed; a file with nothing decodable stores nothing (exit code 1).
The other files of the same command are indexed either way."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from video_clips import encode_clip, overwrite_middle
from vstream.drivers.index import Coverage, SkippedChunk, index_video
from vstream.ingest.chunker import Chunker
from vstream.store import open_store
from vstream.stream.stages import StreamStages
from vstream.weights import test_video_path

pytestmark = pytest.mark.integration  # child processes over encoded clips

FRAMES = 1000  # 40 s of the test video, a keyframe every 2 s
GOP = 50


def vstream(*args: str, store: Path) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "vstream", *args, "--store", f"chdb://{store}"],
                            capture_output=True, text=True, cwd=store.parent, timeout=600)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def index(*paths: Path, store: Path, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return vstream("index", "--model", "none", "--shots", "fast", "--no-progress", "--quiet",
                   *extra, *map(str, paths), store=store)


def streams(store: Path) -> dict[str, dict]:
    listed = vstream("streams", "--format", "json", store=store)
    assert listed.returncode == 0, listed.stderr
    return {s["stream_id"]: s for s in map(json.loads, listed.stdout.splitlines())}


def cut(source: Path, target: Path, fraction: float) -> Path:
    blob = source.read_bytes()
    target.write_bytes(blob[: int(len(blob) * fraction)])
    return target


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("damaged")
    clip = encode_clip(d / "clip.mp4", range(FRAMES), gop=GOP, faststart=True)  # index first
    recorded = encode_clip(d / "recorded.mp4", range(FRAMES), gop=GOP)  # index last, as recorders do
    ts = encode_clip(d / "recorded.ts", range(FRAMES), gop=GOP)
    return {
        "clip": clip,
        "truncated": cut(clip, d / "truncated.mp4", 0.5),  # (a) index first, data ends at 50%
        "no_index": cut(recorded, d / "no_index.mp4", 0.5),  # (b) index never written
        "corrupt_mp4": overwrite_middle(recorded, d / "corrupt_mid.mp4"),
        "corrupt_ts": overwrite_middle(ts, d / "corrupt_ts.ts"),
    }


def _line(stdout: str, path: Path) -> str:
    [line] = [s for s in stdout.splitlines() if s.startswith(f"{path}: stream ")]
    return line


def _truncated_frames(line: str) -> int:
    found = re.search(rf"stream 'truncated', partial \((\d+) of {FRAMES} frames indexed; the data "
                      r"ends early \(file cut short\)\), \d+ scenes, (\d+) frames", line)
    assert found and found[1] == found[2], line
    return int(found[1])


def _scenes(store: Path, stream_id: str) -> list[tuple]:
    with open_store(f"chdb://{store}") as s:
        return [(r.row_id, r.scene_index, r.start_frame, r.end_frame, r.start_s, r.end_s)
                for r in s.scenes_of(stream_id)]


def _rows(store: Path, stream_id: str) -> dict[str, list[tuple]]:
    """Every row of one stream, per table, without write times."""
    with open_store(f"chdb://{store}") as s:
        where = f"WHERE stream_id = '{stream_id}'"
        return {
            "scenes": s.query_readonly(f"SELECT row_id, scene_index, start_frame, end_frame, start_s, "
                                       f"end_s FROM scenes {where} ORDER BY row_id").rows,
            "events": s.query_readonly(f"SELECT row_id, frame, t_s, kind FROM events "
                                       f"{where} ORDER BY row_id").rows,
            "detections": s.query_readonly(f"SELECT row_id FROM detections {where}").rows,
            "tracks": s.query_readonly(f"SELECT row_id FROM tracks {where}").rows,
            "streams": s.query_readonly("SELECT stream_id, status, status_reason, frames, "
                                        f"duration_s FROM streams {where}").rows,
        }


def test_truncated_file_is_indexed_as_far_as_it_decodes_and_said_to_be_partial(media, tmp_path) -> None:
    """(a) an MP4 with its index at the front, cut at 50%: the frames before the cut are
    indexed, the file is partial everywhere a user looks, and indexing it again changes nothing
    but, once it is whole again, gives the whole file's rows."""
    store = tmp_path / "store"
    r = index(media["clip"], media["truncated"], store=store)
    assert r.returncode == 3, r.stderr
    assert "vstream: error" not in r.stderr
    assert "partial" not in _line(r.stdout, media["clip"])
    frames = _truncated_frames(_line(r.stdout, media["truncated"]))
    assert FRAMES * 0.4 < frames < FRAMES * 0.6
    listed = streams(store)
    assert (listed["clip"]["status"], listed["clip"]["frames"]) == ("complete", FRAMES)
    assert (listed["truncated"]["status"], listed["truncated"]["frames"]) == ("partial", frames)
    scenes = _scenes(store, "truncated")
    assert scenes[0][2] == 0 and scenes[-1][3] == frames - 1  # rows up to the frames indexed
    assert [s[2] for s in scenes[1:]] == [s[3] + 1 for s in scenes[:-1]]
    assert listed["truncated"]["scenes"] == len(scenes)
    before = _rows(store, "truncated")
    assert before["streams"][0][2].startswith(f"{frames} of {FRAMES} frames indexed")

    again = index(media["truncated"], store=store)  # the same rows, none twice
    assert again.returncode == 3
    assert _truncated_frames(_line(again.stdout, media["truncated"])) == frames
    assert _rows(store, "truncated") == before

    whole = index(media["clip"], store=store, extra=("--stream-id", "truncated"))  # made whole
    assert whole.returncode == 0, whole.stderr
    assert [s[2:] for s in _scenes(store, "truncated")] == [s[2:] for s in _scenes(store, "clip")]
    assert (streams(store)["truncated"]["status"], streams(store)["truncated"]["frames"]) == \
        ("complete", FRAMES)


def test_mp4_cut_before_its_index_is_one_error_line_and_stores_nothing(media, tmp_path) -> None:
    """(b) an MP4 whose index (moov) was to be written last, cut at 50%: nothing decodable."""
    store = tmp_path / "store"
    r = index(media["no_index"], media["clip"], store=store)
    assert r.returncode == 1
    errors = [line for line in r.stderr.splitlines() if line.strip()]
    assert errors == [f"vstream: error: {media['no_index']}: MP4 file cut short before its index "
                      "(no moov box): no frame can be located in it; copy or record it again to "
                      "the end"]
    assert "clip.mp4: stream 'clip', " in r.stdout
    assert set(streams(store)) == {"clip"}
    assert not any(_rows(store, "no_index").values())


@pytest.mark.parametrize("name", ["corrupt_mp4", "corrupt_ts"])
def test_garbage_in_the_middle_skips_the_damaged_chunk_and_marks_the_gap(media, tmp_path, name) -> None:
    """64 KB of random bytes over the middle: the chunk they fall in is skipped (MP4: FFmpeg
    cannot decode it; MPEG-TS: the demuxer flags the packets damaged), every other frame is
    indexed, and a stream_gap event marks where video resumes."""
    store = tmp_path / "store"
    path = media[name]
    r = index(path, store=store)
    assert r.returncode == 3, r.stderr
    line = _line(r.stdout, path)
    found = re.search(r"partial \((\d+) (?:of \d+ )?frames indexed; \d+ damaged chunks? skipped "
                      r"\((\d+) frames from \d\d:\d\d:\d\d\.\d; [^)]*\)\)", line)
    assert found, line
    frames, skipped = int(found[1]), int(found[2])
    rows = _rows(store, path.stem)
    [(stream_id, status, reason, stored_frames, _)] = rows["streams"]
    assert (status, stored_frames) == ("partial", frames) and "damaged chunk" in reason
    [gap] = [e for e in rows["events"] if e[3] == "stream_gap"]
    scenes = sorted(rows["scenes"], key=lambda s: s[2])
    # frames keep their numbers across the hole: the indexed and the skipped make up the file
    assert scenes[0][2] == 0 and frames + skipped == scenes[-1][3] + 1
    assert [s[2] for s in scenes[1:]] == [s[3] + 1 for s in scenes[:-1]]
    [holder] = [s for s in scenes if s[2] <= gap[1] <= s[3]]  # one scene holds its frame
    if name == "corrupt_mp4":  # the frames of an MP4 keep their numbers: video resumes at a keyframe
        assert gap[1] % GOP == 0
    assert streams(store)[path.stem]["status"] == "partial"

    again = index(path, store=store)
    assert again.returncode == 3 and _rows(store, path.stem) == rows


def test_default_frame_model_rows_stop_where_the_damaged_file_does(tmp_path) -> None:
    """With the default frame model, a file with a damaged middle keeps detections, tracks,
    events and people only for frames indexed, and nothing points at a row that is not there."""
    recorded = encode_clip(tmp_path / "short.mp4", range(400), gop=GOP)
    path = overwrite_middle(recorded, tmp_path / "damaged.mp4")
    with open_store(f"chdb://{tmp_path / 'store'}") as store:
        result = index_video(str(path), store, shots="fast")
        skipped = result.coverage.skipped
        lost = range(skipped[0].first_frame, skipped[-1].first_frame + skipped[-1].frames)
        assert result.status == "partial" and result.frames == 400 - len(lost)
        q = lambda sql: store.query_readonly(sql).rows  # noqa: E731
        scenes = {i for (i,) in q("SELECT scene_index FROM scenes")}
        assert scenes == set(range(len(result.scenes)))
        frames = [f for (f,) in q("SELECT frame FROM detections")]
        assert frames and not any(f in lost or f >= 400 for f in frames)
        assert {i for (i,) in q("SELECT scene_index FROM tracks")} <= scenes
        last = max(f for (f,) in q("SELECT end_frame FROM scenes"))
        assert all(f <= last and f not in lost for (f,) in q("SELECT frame FROM events"))
        assert q("SELECT frame FROM events WHERE kind = 'stream_gap'") == [(lost.stop,)]
        people = {p for (p,) in q("SELECT DISTINCT person_id FROM people")}
        assert {p for (p,) in q("SELECT person_id FROM tracks WHERE person_id != ''")} <= people
        assert {s for (s,) in q("SELECT DISTINCT arrayJoin([first_stream, last_stream]) "
                                "FROM people")} <= {"damaged"}
        assert store.stream("damaged").status == "partial"


def test_a_partial_stream_indexed_again_in_full_keeps_only_the_full_rows_on_a_server(
        media, server_url) -> None:
    """The stored rows of a partial stream are deleted (an ALTER DELETE mutation, waited for on
    ClickHouse 18.16) before the rows of the next indexing are written."""
    with open_store(server_url) as store:
        first = index_video(str(media["truncated"]), store, stream_id="s", shots="fast", model="none")
        assert first.status == "partial"
        index_video(str(media["clip"]), store, stream_id="whole", shots="fast", model="none")
        again = index_video(str(media["clip"]), store, stream_id="s", shots="fast", model="none")
        assert again.status == "complete" and store.stream("s").status == "complete"
        rows = lambda sid: [(r.start_frame, r.end_frame) for r in store.scenes_of(sid)]  # noqa: E731
        assert rows("s") == rows("whole")
        assert store.query_readonly("SELECT count() FROM scenes WHERE stream_id = 's'").rows == \
            [(len(rows("whole")),)]


def test_a_skipped_chunk_becomes_a_stream_gap_where_video_resumes_across_a_snapshot() -> None:
    """`StreamStages.skip` (what both drivers can call for an undecodable chunk) holds the hole
    in the stream's state until the next chunk, whose first frame the gap event is at."""
    chunks = list(Chunker(str(test_video_path()), "s"))[:4]
    rate = float(chunks[0].frame_rate)
    stages = StreamStages("s", rate, shots="fast", model=None, gallery=None)
    stages.push(chunks[0])
    stages.skip(chunks[1], "chunk 1 skipped: undecodable")
    stages.skip(chunks[2], "chunk 2 skipped: undecodable")  # one hole, from the first
    stages = StreamStages.restore(stages.snapshot(), rate, shots="fast", model=None, gallery=None)
    gaps = stages.push(chunks[3]).gaps + stages.finish().gaps
    [gap] = gaps
    assert (gap.row.frame, gap.row.t_s, gap.row.kind) == (chunks[3].first_frame, chunks[3].start_s,
                                                         "stream_gap")
    assert gap.seconds == pytest.approx(chunks[3].start_s - chunks[1].start_s)
    assert gap.reason == "chunk 1 skipped: undecodable"


def _skip(frames: int, start_s: float = 22.0) -> SkippedChunk:
    return SkippedChunk(11, 550, frames, start_s, "undecodable: Invalid data")


@pytest.mark.parametrize(
    ("coverage", "status", "reason"),
    [
        (Coverage(1000, 1000), "complete", ""),
        (Coverage(985, 1000, missing=0), "complete", ""),  # 2% spared: open-GOP leading frames
        (Coverage(1100, 0), "complete", ""),  # MPEG-TS declares nothing: a cut is not seen
        (Coverage(500, 1000), "partial", "500 of 1000 frames indexed; the data ends early (file cut short)"),
        (Coverage(500, 1000, tail=(_skip(8),)), "partial",
         "500 of 1000 frames indexed; the data ends early (file cut short)"),
        (Coverage(800, 1000, skipped=(_skip(150), _skip(50))), "partial",
         "800 of 1000 frames indexed; 2 damaged chunks skipped (200 frames from 00:00:22.0; "
         "undecodable: Invalid data)"),
        (Coverage(950, 0, tail=(_skip(50),)), "partial",
         "950 frames indexed; the last 50 frames are damaged (undecodable: Invalid data)"),
        (Coverage(300, 1000, stopped="demuxing failed after 300 packets (I/O error)"), "partial",
         "300 of 1000 frames indexed; reading stopped early: demuxing failed after 300 packets "
         "(I/O error)"),
    ],
)
def test_coverage_says_complete_or_partial_and_why(coverage: Coverage, status: str, reason: str) -> None:
    assert (coverage.status, coverage.reason) == (status, reason)
