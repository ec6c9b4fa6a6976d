"""Fixtures of the Kafka driver tests: what `vstream index` makes of the test video, to compare
the worker's rows with."""

from __future__ import annotations

import pytest

from kafka_messages import scene_key  # tests/ is on pythonpath (pyproject)
from vstream.drivers.index import index_video
from vstream.store import open_store
from vstream.weights import test_video_path


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> list[tuple]:
    """`vstream index` (index_video) on the test video, fast detector, no frame model: its
    scenes as `scene_key` tuples."""
    with open_store(f"chdb://{tmp_path_factory.mktemp('ref')}/store") as store:
        index_video(str(test_video_path()), store, stream_id="music", shots="fast", model="none")
        rows = store.scenes_of("music")
    assert len(rows) > 10
    return scene_key(rows)
