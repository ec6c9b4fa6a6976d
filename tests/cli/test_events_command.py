"""`vstream events STREAM`: the stored events of a stream, one line each or as JSON."""

from __future__ import annotations

import json

from vstream.cli import main
from vstream.store import EventRow, StreamRow, open_store


def test_stored_events_print_one_line_each_and_json_as_published(tmp_path, capsys) -> None:
    url = f"chdb://{tmp_path / 'store'}"
    with open_store(url) as store:
        store.write_stream(StreamRow("cam1", "/v/cam1.mp4", "h264", 768, 576, 10.0, 100, 10.0, "v"))
        store.write_events([EventRow("cam1", 24, 2.4, "enter", "t3", 1, "v", track_id=3),
                            EventRow("cam1", 30, 3.0, "count", "", 1, "v"),
                            EventRow("cam1", 80, 8.0, "leave", "t3", 0, "v", track_id=3)])
    assert main(["events", "cam1", "--store", url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split() for line in lines] == [
        ["00:00:02.4", "cam1", "enter", "t3", "people", "1"],
        ["00:00:03.0", "cam1", "count", "-", "people", "1"],
        ["00:00:08.0", "cam1", "leave", "t3", "people", "0"]]
    assert main(["events", "cam1", "--store", url, "--format", "json"]) == 0
    messages = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(m["kind"], m["frame"], m["track_id"]) for m in messages] == \
        [("enter", 24, 3), ("count", 30, 0), ("leave", 80, 3)]


def test_an_unknown_stream_or_no_stream_is_one_line(tmp_path, capsys) -> None:
    url = f"chdb://{tmp_path / 'store'}"
    assert main(["events", "nope", "--store", url]) != 0
    assert main(["events", "--store", url]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "no stream 'nope'" in err[0] and "STREAM_ID" in err[1]
