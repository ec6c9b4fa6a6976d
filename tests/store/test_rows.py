"""Row values: deterministic IDs, redacted sources, and the mistakes rows refuse."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from vstream.store import SceneRow, StreamRow, row_id_for


def test_row_id_is_pinned() -> None:
    # A changed hash would make every re-index after an upgrade write duplicates.
    assert row_id_for("cam7", "scene", 3, "transnetv2-1.0") == 10809623844618888570


def test_row_id_is_the_same_in_another_process() -> None:
    code = (
        "from vstream.store import row_id_for\n"
        "print(row_id_for('cam7', 'scene', 3, 'transnetv2-1.0'))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert int(out.stdout) == row_id_for("cam7", "scene", 3, "transnetv2-1.0")


@pytest.mark.parametrize(
    "other",
    [
        ("cam8", "scene", 3, "transnetv2-1.0"),
        ("cam7", "detection", 3, "transnetv2-1.0"),
        ("cam7", "scene", 4, "transnetv2-1.0"),
        ("cam7", "scene", 3, "transnetv2-1.1"),
        ("cam7scene", "", 3, "transnetv2-1.0"),  # concatenation must not collide
    ],
)
def test_row_id_changes_with_every_part(other: tuple[str, str, int, str]) -> None:
    assert row_id_for(*other) != row_id_for("cam7", "scene", 3, "transnetv2-1.0")


def test_row_id_fits_uint64() -> None:
    ids = [row_id_for("s", "scene", i, "m") for i in range(1000)]
    assert all(0 <= i < 2**64 for i in ids)
    assert len(set(ids)) == 1000


def test_scene_row_id_comes_from_the_start_frame() -> None:
    scene = SceneRow("cam7", 3, 1.0, 2.0, 25, 50, "transnetv2-1.0")
    assert scene.row_id == row_id_for("cam7", "scene", 25, "transnetv2-1.0")
    # The index is not part of the identity; the start frame is.
    assert SceneRow("cam7", 4, 1.0, 2.0, 25, 50, "transnetv2-1.0").row_id == scene.row_id
    assert SceneRow("cam7", 3, 1.0, 2.0, 26, 50, "transnetv2-1.0").row_id != scene.row_id


def test_a_passed_row_id_must_match() -> None:
    good = row_id_for("cam7", "scene", 25, "m")
    assert SceneRow("cam7", 3, 1.0, 2.0, 25, 50, "m", row_id=good).row_id == good
    with pytest.raises(ValueError, match="does not match"):
        SceneRow("cam7", 3, 1.0, 2.0, 25, 50, "m", row_id=good + 1)


@pytest.mark.parametrize(
    ("source", "stored"),
    [
        ("rtsp://admin:secret@10.0.0.7:554/live?ch=1", "rtsp://***@10.0.0.7:554/live?ch=1"),
        ("rtsp://admin@cam/live", "rtsp://***@cam/live"),
        ("http://u:p@ss@host/v.mp4", "http://***@host/v.mp4"),
        ("https://host/v.mp4?token=t0k&q=1", "https://host/v.mp4?token=***&q=1"),
        ("rtsp://cam/live", "rtsp://cam/live"),
        ("/videos/a:b@c.mp4", "/videos/a:b@c.mp4"),
        ("tests/test.mp4", "tests/test.mp4"),
    ],
)
def test_stream_source_is_stored_redacted(source: str, stored: str) -> None:
    # the same redactor as logs and metric labels (vstream.redact), applied by the row itself
    row = StreamRow("s", source, "h264", 160, 90, 25.0, 10, 0.4, "m")
    assert row.source == stored


def test_times_are_utc_whole_seconds() -> None:
    plus2 = timezone(timedelta(hours=2))
    scene = SceneRow("s", 0, 0.0, 1.0, 0, 24, "m", datetime(2024, 5, 1, 12, 0, 0, 999_999, tzinfo=plus2))
    assert scene.written_at == datetime(2024, 5, 1, 10, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: SceneRow("", 0, 0.0, 1.0, 0, 1, "m"), "stream_id"),
        (lambda: SceneRow("s", -1, 0.0, 1.0, 0, 1, "m"), "scene_index"),
        (lambda: SceneRow("s", 0, 2.0, 1.0, 0, 1, "m"), "ends before it starts"),
        (lambda: SceneRow("s", 0, 0.0, 1.0, 5, 1, "m"), "start_frame <= end_frame"),
        (lambda: SceneRow("s", 0, 0.0, 1.0, 0, 1, "m", datetime(2024, 1, 1)), "timezone-aware"),
        (lambda: StreamRow("s", "f", "h264", -1, 90, 25.0, 1, 0.04, "m"), "width"),
        (
            lambda: StreamRow("s", "f", "h264", 1, 90, 25.0, 1, 0.04, "m", datetime(2024, 1, 1)),
            "timezone-aware",
        ),
        (lambda: StreamRow("s", "f", "h264", 1, 90, 25.0, 1, 0.04, "m", status="broken"), "status"),
    ],
)
def test_bad_rows_raise_value_error(make, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        make()
