"""ClickHouseWriter on both backends: schema, idempotent writes, reads, equal results."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from vstream.errors import StoreError
from vstream.store import SCHEMA_VERSION, ClickHouseWriter, SceneRow, StoreURL, StreamRow, open_store
from vstream.store.chdb_backend import ChdbBackend

WHEN = datetime(2024, 5, 1, 12, 30, 15, tzinfo=timezone.utc)


def scenes(
    n: int, *, stream_id: str = "cam7", model: str = "m1", written_at: datetime | None = WHEN
) -> list[SceneRow]:
    return [
        SceneRow(stream_id, i, i * 2.5, i * 2.5 + 2.5, i * 62, i * 62 + 61, model, written_at)
        for i in range(n)
    ]


def stream_row(model: str = "m1", **changes) -> StreamRow:
    row = StreamRow(
        "cam7", "rtsp://admin:pw@cam7/live", "h264", 1920, 1080, 25.0, 5301, 212.04, model, WHEN
    )
    return replace(row, **changes)


def test_ensure_schema_twice_is_fine(store: ClickHouseWriter) -> None:
    # open_store already ran it once.
    assert store.ensure_schema() == SCHEMA_VERSION
    assert store.ensure_schema() == SCHEMA_VERSION
    tables = {row[0] for row in store.query_readonly("SHOW TABLES").rows}
    assert {"vstream_meta", "streams", "scenes"} <= tables
    assert store.count("vstream_meta") == 1


def test_reopening_a_store_keeps_its_rows(store_url: StoreURL) -> None:
    with open_store(store_url) as store:
        store.write_scenes(scenes(4))
    with open_store(store_url) as store:
        assert store.count("scenes") == 4
        assert store.count("vstream_meta") == 1


def test_newer_schema_is_refused(store: ClickHouseWriter) -> None:
    newer = ("schema_version", str(SCHEMA_VERSION + 1), datetime.now(timezone.utc))
    store.backend.insert("vstream_meta", ["key", "value", "updated_at"], [newer])
    with pytest.raises(StoreError, match="newer than this vstream"):
        store.ensure_schema()


def test_writing_scenes_twice_adds_nothing(store: ClickHouseWriter) -> None:
    rows = scenes(25)
    assert store.write_scenes(rows) == 25
    assert store.write_scenes(rows) == 0
    # Also when the replay carries a new write time: identity is the row_id, not the content.
    assert store.write_scenes(scenes(25, written_at=None)) == 0
    assert store.query_readonly("SELECT count() FROM scenes").scalar() == 25


def test_partly_stored_batch_writes_only_the_new_rows(store: ClickHouseWriter) -> None:
    assert store.write_scenes(scenes(10)[:4]) == 4
    assert store.write_scenes(scenes(10)) == 6
    assert store.query_readonly("SELECT count(), uniqExact(row_id) FROM scenes").rows == [(10, 10)]


def test_duplicates_within_one_call_are_written_once(store: ClickHouseWriter) -> None:
    rows = scenes(3)
    assert store.write_scenes(rows + rows) == 3
    assert store.count("scenes") == 3


@pytest.mark.parametrize("batch_size", [1, 3, 7, 1000])
def test_batches_of_any_size_write_every_row_once(store_url: StoreURL, batch_size: int) -> None:
    with open_store(store_url, batch_size=batch_size) as store:
        rows = scenes(20)
        assert store.write_scenes(rows[:5]) == 5
        assert store.write_scenes(rows) == 15
        assert store.count("scenes") == 20
        assert [s.scene_index for s in store.scenes_of("cam7")] == list(range(20))


def test_scenes_read_back_equal_what_was_written(store: ClickHouseWriter) -> None:
    rows = scenes(5)
    store.write_scenes(list(reversed(rows)))
    assert store.scenes_of("cam7") == rows


def test_awkward_values_round_trip(store: ClickHouseWriter) -> None:
    odd_id = "cam 'seven'\\ \"quoted\"\n\ttab é 📷; DROP TABLE scenes"
    rows = [
        SceneRow(odd_id, 0, 0.1, 0.30000000000000004, 0, 2**63, "m'1"),
        SceneRow(odd_id, 1, 1e-300, math.inf, 2**64 - 2, 2**64 - 1, "m'1"),
        SceneRow(odd_id, 2**32 - 1, 5.0, 5.0, 7, 7, "m'1"),
    ]
    assert store.write_scenes(rows) == 3
    back = store.scenes_of(odd_id, "m'1")
    assert [replace(r, written_at=None) for r in back] == [replace(r, written_at=None) for r in rows]
    assert all(r.written_at is not None and r.written_at.tzinfo is not None for r in back)
    assert store.write_scenes(rows) == 0


def test_scenes_of_takes_the_latest_model_version(store: ClickHouseWriter) -> None:
    store.write_stream(stream_row("m1"))
    store.write_scenes(scenes(3, model="m1"))
    assert [s.model_version for s in store.scenes_of("cam7")] == ["m1"] * 3
    # Re-indexed with a new model that finds other scenes: both versions stay stored.
    store.write_stream(stream_row("m2"))
    store.write_scenes(scenes(5, model="m2"))
    assert store.count("scenes") == 8
    assert [s.model_version for s in store.scenes_of("cam7")] == ["m2"] * 5
    assert len(store.scenes_of("cam7", "m1")) == 3
    assert store.scenes_of("no-such-stream") == []


def test_scenes_of_without_a_stream_row_uses_the_newest_scenes(store: ClickHouseWriter) -> None:
    store.write_scenes(scenes(2, model="old", written_at=WHEN))
    store.write_scenes(scenes(4, model="new", written_at=WHEN.replace(hour=13)))
    assert [s.model_version for s in store.scenes_of("cam7")] == ["new"] * 4


def test_rewriting_a_stream_keeps_one_row(store: ClickHouseWriter) -> None:
    assert store.write_stream(stream_row()) is True
    # Same content: skipped, even with a later indexed_at.
    assert store.write_stream(stream_row(indexed_at=WHEN.replace(hour=14))) is False
    assert store.write_stream(stream_row(indexed_at=None)) is False
    assert store.count("streams") == 1
    # Different content: the row is replaced, not duplicated.
    assert store.write_stream(stream_row("m2", frames=5302)) is True
    assert store.query_readonly("SELECT count() FROM streams").scalar() == 1
    stored = store.stream("cam7")
    assert stored is not None
    assert (stored.model_version, stored.frames) == ("m2", 5302)
    assert stored.source == "rtsp://***@cam7/live"  # credentials never reach the store


def test_both_backends_read_back_the_same_rows(tmp_path, server_url: StoreURL) -> None:
    written = scenes(12) + scenes(3, stream_id="cam8", model="m9")
    results = []
    for url in (StoreURL.parse(f"chdb://{tmp_path / 'store'}"), server_url):
        with open_store(url, batch_size=5) as store:
            store.write_stream(stream_row())
            store.write_scenes(written)
            store.write_scenes(written)
            results.append(
                (
                    store.stream("cam7"),
                    store.scenes_of("cam7"),
                    store.scenes_of("cam8"),
                    store.query_readonly(
                        "SELECT stream_id, count(), sum(end_frame), max(written_at) "
                        "FROM scenes GROUP BY stream_id ORDER BY stream_id"
                    ),
                )
            )
    chdb_result, server_result = results
    assert chdb_result == server_result
    assert chdb_result[1] == scenes(12)
    expected_totals = [
        (stream_id, len(group), sum(s.end_frame for s in group), WHEN)
        for stream_id, group in (("cam7", scenes(12)), ("cam8", scenes(3, stream_id="cam8", model="m9")))
    ]
    assert chdb_result[3].rows == expected_totals


def test_chdb_opens_one_directory_per_process(tmp_path) -> None:
    first = ChdbBackend(tmp_path / "a")
    try:
        # The same directory is shared...
        second = ChdbBackend(tmp_path / "a")
        second.execute("CREATE TABLE t (x UInt8) ENGINE = MergeTree ORDER BY x")
        second.close()
        assert first.query("EXISTS TABLE t").scalar() == 1
        # ...another one is refused with a message saying why, not chDB's internal error.
        with pytest.raises(StoreError, match=r"one store directory per process; .*/a is open"):
            ChdbBackend(tmp_path / "b")
    finally:
        first.close()
    # Once every user of /a has closed it, /b opens.
    with ChdbBackend(tmp_path / "b") as other:
        assert other.query("SELECT 1 AS one").rows == [(1,)]


def test_store_url_is_safe_to_print(store: ClickHouseWriter, store_url: StoreURL) -> None:
    assert store.url.startswith(f"{store_url.scheme}://")
    if store_url.password:
        assert store_url.password not in store.url
        assert store.url == str(store_url)


def test_chdb_writer_batches_leave_no_query_condition_cache(tmp_path) -> None:
    # Each batch's row-ID lookup is a condition never asked again: cached, a long-running worker
    # grew by it batch after batch (the camera soak).
    def cached_bytes(store: ClickHouseWriter) -> int:
        return int(store.backend.query(
            "SELECT value FROM system.metrics WHERE metric = 'QueryConditionCacheBytes'").scalar())

    with open_store(f"chdb://{tmp_path / 'store'}") as store:
        if not store.backend.query(
                "SELECT count() FROM system.settings WHERE name = 'use_query_condition_cache'").scalar():
            pytest.skip("this chDB engine has no query condition cache")
        before = cached_bytes(store)
        for batch in range(20):
            store.write_scenes(scenes(5, stream_id=f"cam{batch}"))
            store.write_scenes(scenes(5, stream_id=f"cam{batch}"))  # the second asks, stored
        assert store.count("scenes") == 100
        assert cached_bytes(store) == before
