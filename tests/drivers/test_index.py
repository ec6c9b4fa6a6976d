"""`vstream index` end to end on both store back ends: same rows, no duplicates."""

from __future__ import annotations

import pytest

from vstream.drivers.index import index_video
from vstream.store import open_store

pytestmark = pytest.mark.integration  # whole real videos


def _scene_tuples(store, stream_id: str) -> list[tuple]:
    return [(r.scene_index, r.start_frame, r.end_frame, round(r.start_s, 6), round(r.end_s, 6), r.row_id)
            for r in store.scenes_of(stream_id)]


def test_chdb_and_clickhouse_server_get_the_same_scene_rows_and_no_duplicates(
    short_video, tmp_path, server_url
) -> None:
    results = {}
    for name, url in (("chdb", f"chdb://{tmp_path / 'store'}"), ("server", server_url)):
        with open_store(url) as store:
            first = index_video(str(short_video), store, shots="fast")
            assert len(first.scenes) >= 3
            assert first.new_rows == sum(store.count(t) for t in ("scenes", "detections", "tracks", "events"))
            again = index_video(str(short_video), store, shots="fast")
            assert again.new_rows == 0
            # a plain count, no FINAL: what a user's own query sees
            assert store.query_readonly("SELECT count() FROM scenes").rows[0][0] == len(first.scenes)
            assert store.query_readonly("SELECT count() FROM streams").rows[0][0] == 1
            results[name] = _scene_tuples(store, "short")
            results[name + " analysis"] = [
                sorted(r for (r,) in store.query_readonly(f"SELECT row_id FROM {t}").rows)
                for t in ("detections", "tracks", "events")]
    assert results["chdb"] == results["server"]
    assert results["chdb analysis"] == results["server analysis"]
    starts = [r[3] for r in results["chdb"]]
    ends = [r[4] for r in results["chdb"]]
    assert starts[0] == 0.0 and ends[-1] == pytest.approx(16.0)
    assert starts[1:] == ends[:-1]  # scenes tile the video
