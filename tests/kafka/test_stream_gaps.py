"""Stream gaps end to end: a chunk that came after a gap (as `vstream ingest` marks it) becomes
one `stream_gap` row in the events table and one `stream_gap` message on the events topic
(real Tansu broker, chDB, real chunks of the test video, fast shot detector, no frame model)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from kafka_messages import new_topic, read_to_end  # tests/ is on pythonpath (pyproject)
from kafka_workers import run_until_caught_up  # tests/ is on pythonpath (pyproject)
from vstream.ingest.chunker import Chunker
from vstream.kafka import ChunkProducer
from vstream.kafka.events import SCENE_KIND, event_messages
from vstream.store import open_store
from vstream.store.rows import STREAM_GAP, EventRow
from vstream.kafka.worker import ChunkWorker
from vstream.stream.stages import StageOutput, StreamGap, StreamStages

STREAM = "gappy"
GAP_S = 12.5
REASON = "rtsp://***@cam/s: demuxing failed after 6 packets (timeout)"


def _run_worker(bootstrap: str, topic: str, store, group: str, events_topic: str) -> ChunkWorker:
    worker = ChunkWorker(bootstrap, topic, store, group=group, shots="fast", model="none",
                         events_topic=events_topic)
    stats = run_until_caught_up(worker)
    assert stats.streams_finished == 1 and stats.dead_letters == 0
    return worker


def test_a_gap_chunk_is_stored_and_published_once_as_a_stream_gap_event(
        kafka_broker: str, short_video: Path, tmp_path: Path) -> None:
    chunks = list(Chunker(str(short_video), STREAM))
    assert len(chunks) >= 4
    gap_at = len(chunks) // 2
    resumed = chunks[gap_at] = dataclasses.replace(chunks[gap_at], gap_s=GAP_S, gap_reason=REASON)
    topic = new_topic(kafka_broker, "test.gaps")
    events_topic = new_topic(kafka_broker, "test.gaps.events", dlq=False)
    with ChunkProducer(kafka_broker, topic) as producer:
        for chunk in chunks:
            producer.send(chunk)

    with open_store(f"chdb://{tmp_path}/store") as store:
        worker = _run_worker(kafka_broker, topic, store, "g1", events_topic)
        events = store.events_of(STREAM, worker.model_version)
        scenes = store.scenes_of(STREAM, worker.model_version)

        # One row, where the video resumed: its first frame, that frame's media time.
        assert [e.kind for e in events] == [STREAM_GAP]
        (row,) = events
        assert (row.frame, row.person_id, row.people) == (resumed.first_frame, "", 0)
        assert row.t_s == pytest.approx(resumed.start_s, abs=1e-6) and row.t_s > 0
        (scene,) = [s for s in scenes if s.start_frame <= row.frame <= s.end_frame]

        # One JSON message for it, with the gap's length and reason, as soon as its chunk is
        # processed: before the scene it is in closes.
        expected = len(scenes) + 1
        records = sorted(read_to_end(kafka_broker, events_topic), key=lambda r: r.offset)
        assert len(records) == expected
        messages = [json.loads(r.value) for r in records]
        gaps = [m for m in messages if m["kind"] == STREAM_GAP]
        assert gaps == [{
            "schema": 2, "kind": STREAM_GAP, "stream_id": STREAM, "row_id": str(row.row_id),
            "model_version": worker.model_version, "t_s": row.t_s, "frame": row.frame,
            "person_id": "", "people": 0, "track_id": 0, "gap_s": GAP_S, "reason": REASON,
        }]
        kinds = [(m["kind"], m.get("scene_index")) for m in messages]
        assert kinds.index((STREAM_GAP, None)) < kinds.index((SCENE_KIND, scene.scene_index))
        assert worker.metrics.value("vstream_events_published_total", kind=STREAM_GAP) == 1

        # Another group over the same topic and store: everything replayed, nothing stored twice;
        # the event is published again with the same row_id (consumers deduplicate on it).
        again = _run_worker(kafka_broker, topic, store, "g2", events_topic)
        assert again.stats.rows_written == 0
        assert store.events_of(STREAM, worker.model_version) == events
        assert store.count("events") == 1
    records = read_to_end(kafka_broker, events_topic)
    republished = [json.loads(r.value) for r in records]
    assert [m["row_id"] for m in republished if m["kind"] == STREAM_GAP] == [str(row.row_id)] * 2


def test_stages_output_a_gap_with_the_chunk_that_ends_it(short_video: Path) -> None:
    """Without Kafka: the gap comes out with the push of the chunk where video resumed, not
    waiting for the shot detector to place the cut there, also after the stages were
    snapshotted and restored (as the worker's state table does)."""
    chunks = list(Chunker(str(short_video), STREAM))
    gap_at = len(chunks) // 2
    chunks[gap_at] = dataclasses.replace(chunks[gap_at], gap_s=GAP_S, gap_reason=REASON)
    rate = float(chunks[0].frame_rate)
    stages = StreamStages(STREAM, rate, shots="fast", model=None, gallery=None)
    outs = [stages.push(c) for c in chunks[:gap_at]]
    stages = StreamStages.restore(stages.snapshot(), rate, shots="fast", model=None, gallery=None)
    out = stages.push(chunks[gap_at])
    (gap,) = out.gaps
    assert (gap.row.frame, gap.row.people, gap.seconds, gap.reason) == \
        (chunks[gap_at].first_frame, 0, GAP_S, REASON)
    assert gap.row.t_s == pytest.approx(chunks[gap_at].start_s)
    assert not any(o.gaps for o in outs)
    later = [stages.push(c) for c in chunks[gap_at + 1 :]] + [stages.finish()]
    assert not any(o.gaps for o in later)


def test_event_messages_give_the_gap_then_the_events_then_the_scenes() -> None:
    """`event_messages` on a push that resumed after a gap, decided two events and closed a
    scene."""
    from vstream.segment.scenes import Scene
    from vstream.stream.analyzer import SceneAnalysis
    from vstream.track.presence import PresenceEvent

    version = "vstream-test/shots-fast"
    events = [PresenceEvent(150, 6.0, "count", "", 1), PresenceEvent(170, 6.8, "leave", "p1", 0, 4)]
    scenes = [SceneAnalysis(Scene(3, 100, 149, 4.0, 6.0), [], [])]
    row = EventRow(STREAM, 160, 6.4, STREAM_GAP, "", 1, version)
    out = StageOutput(events=events, scenes=scenes, gaps=[StreamGap(row, 3.0, "source ended")])
    messages = event_messages(STREAM, version, out, captured_at=lambda f: 1000.0 + f / 25)
    assert [m["kind"] for m in messages] == [STREAM_GAP, "count", "leave", SCENE_KIND]
    assert (messages[0]["gap_s"], messages[0]["reason"], messages[0]["people"]) == \
        (3.0, "source ended", 1)
    assert messages[2]["track_id"] == 4 and messages[3]["scene_index"] == 3
    assert [m["captured_at"] for m in messages[:3]] == pytest.approx([1006.4, 1006.0, 1006.8])
    assert "captured_at" not in messages[3]  # a scene's time is its frames' media time
