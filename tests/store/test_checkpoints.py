"""The worker's stream checkpoints in the store (chDB and the ClickHouse server)."""

from __future__ import annotations

import os

from vstream.store import StreamCheckpoint


def _cp(offset: int, *, finished: bool = False, stream: str = "cam", state: bytes = b"") -> StreamCheckpoint:
    return StreamCheckpoint("chunks", stream, "v", 2, offset, offset - 1, finished, state)


def test_the_newest_checkpoint_wins_and_binary_state_round_trips(store) -> None:
    blob = os.urandom(300_000) + b"\x00'\\\n"
    assert store.checkpoint("chunks", "cam", "v") is None
    store.write_checkpoint(_cp(7, state=blob))
    store.write_checkpoint(_cp(3, state=b"old"))  # written late (a replay): older offset loses
    got = store.checkpoint("chunks", "cam", "v")
    assert got == _cp(7, state=blob)
    assert store.checkpoint("chunks", "cam", "other-model") is None
    assert store.checkpoint("other-topic", "cam", "v") is None

    store.write_checkpoint(_cp(0, stream="door", state=b"x"))
    assert store.open_checkpoints("chunks", "v") == [("cam", 2), ("door", 2)]
    store.write_checkpoint(_cp(7, finished=True))  # the stream finished after that chunk
    assert store.checkpoint("chunks", "cam", "v").finished
    assert store.open_checkpoints("chunks", "v") == [("door", 2)]
