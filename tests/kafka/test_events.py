"""Events out: the worker publishes what it stored to the events topic (real Tansu broker, chDB,
the teachers frame model on a real 10 s clip with people in it)."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path

import pytest

from kafka_messages import read_to_end  # tests/ is on pythonpath (pyproject)
from kafka_workers import run_until_caught_up  # tests/ is on pythonpath (pyproject)
from video_clips import encode_clip  # tests/ is on pythonpath (pyproject)
from vstream.config import load_settings
from vstream.ingest.ingester import ingest
from vstream.kafka import ChunkProducer, dlq_topic, ensure_topics
from vstream.kafka.events import SCENE_KIND, SCHEMA_VERSION
from vstream.store import open_store
from vstream.kafka.worker import ChunkWorker

#: frames 500..749 of the test video (10 s): the lead singer at several sizes, with cuts
#: (tests/detect/teachers/conftest.py), so the clip has people, tracks and enter/leave events
CLIP_FRAMES = range(500, 750)
STREAM = "clip"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CLIP_FRAMES of the real test video, re-encoded as H.264 (160x90, 25 fps)."""
    return encode_clip(tmp_path_factory.mktemp("media") / "clip.mp4", CLIP_FRAMES)


def _model() -> str:
    """The default (distilled) model when its checkpoint is shipped, else the teachers."""
    shipped = Path(__file__).parents[2] / "vstream" / "detect" / "data" / "unified.safetensors"
    return "unified" if shipped.is_file() else "teachers"


def test_every_stored_event_and_scene_is_published_once_as_json(kafka_broker: str, clip: Path,
                                                                 tmp_path: Path) -> None:
    topic = f"test.events.chunks.{uuid.uuid4().hex[:8]}"
    events_topic = f"test.events.{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_broker, [topic, dlq_topic(topic)])
    with ChunkProducer(kafka_broker, topic) as producer:
        ingest(str(clip), STREAM, producer)

    with open_store(f"chdb://{tmp_path}/store") as store:
        worker = ChunkWorker(kafka_broker, topic, store, group="events", shots="fast",
                             model=_model(), analysis_fps=2.0, events_topic=events_topic,
                             people_topic=f"{topic}.people")
        stats = run_until_caught_up(worker, hang_guard_s=300)  # a frame model on two cores
        assert stats.streams_finished == 1
        events = store.events_of(STREAM, worker.model_version)
        scenes = store.scenes_of(STREAM, worker.model_version)
    assert events, "the clip must give enter/leave/count events, or this test proves little"
    assert len(scenes) >= 2

    expected = len(events) + len(scenes)
    # the whole topic, so an extra (duplicate) message would be read too
    records = read_to_end(kafka_broker, events_topic)
    assert len(records) == expected
    assert {r.key for r in records} == {STREAM.encode()}
    assert len({r.partition for r in records}) == 1  # keyed by stream: one partition, in order
    records.sort(key=lambda r: r.offset)
    messages = [json.loads(r.value) for r in records]
    assert all(m["schema"] == SCHEMA_VERSION == 2 for m in messages)
    assert all(dict(r.headers)["kind"] == m["kind"].encode() for r, m in zip(records, messages))
    assert all(m["stream_id"] == STREAM and m["model_version"] == worker.model_version
               for m in messages)

    # Every EventRow in the store: exactly one message with its row_id and its fields.
    published = [m for m in messages if m["kind"] != SCENE_KIND]
    by_id = Counter(m["row_id"] for m in published)
    assert by_id == Counter({str(e.row_id): 1 for e in events})
    stored = {str(e.row_id): e for e in events}
    for m in published:
        e = stored[m["row_id"]]
        assert (m["kind"], m["person_id"], m["people"], m["frame"], m["track_id"]) == \
            (e.kind, e.person_id, e.people, e.frame, e.track_id)
        assert "captured_at" not in m  # a file sent at full speed has no capture times
        assert m["t_s"] == pytest.approx(e.t_s, abs=1e-6)

    # Scene messages match the scenes table, in order.
    scene_messages = [m for m in messages if m["kind"] == SCENE_KIND]
    assert [(m["row_id"], m["scene_index"], m["start_frame"], m["end_frame"], m["people"],
             m["tags"], m["description"]) for m in scene_messages] == \
        [(str(s.row_id), s.scene_index, s.start_frame, s.end_frame, list(s.people),
          list(s.tags), s.description) for s in scenes]
    for m, s in zip(scene_messages, scenes):
        assert (m["start_s"], m["end_s"]) == pytest.approx((s.start_s, s.end_s), abs=1e-6)


    kinds = Counter(m["kind"] for m in messages)
    for kind, n in kinds.items():
        assert worker.metrics.value("vstream_events_published_total", kind=kind) == n


@pytest.mark.parametrize(("env", "flag", "expected"), [
    (None, None, "vstream.events"),
    ("cams.events", None, "cams.events"),
    ("", None, ""),  # disabled by the environment
    ("cams.events", "", ""),  # the flag wins, and "" disables
])
def test_events_topic_setting(monkeypatch, tmp_path, env, flag, expected) -> None:
    monkeypatch.chdir(tmp_path)  # no vstream.toml
    monkeypatch.delenv("VSTREAM_CONFIG", raising=False)
    if env is None:
        monkeypatch.delenv("VSTREAM_EVENTS_TOPIC", raising=False)
    else:
        monkeypatch.setenv("VSTREAM_EVENTS_TOPIC", env)
    assert load_settings({"events_topic": flag}).events_topic == expected
