"""`vstream events --follow`: events printed as the worker publishes them (real Tansu broker,
the real CLI in a subprocess)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid

from vstream.kafka import ensure_topics
from vstream.kafka.events import EventPublisher
from vstream.stream.stages import StageOutput
from vstream.track.presence import PresenceEvent


def _output(*events: PresenceEvent) -> StageOutput:
    return StageOutput(events=list(events))


def _follow(kafka_broker: str, topic: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "vstream", "events", "--follow", "--kafka", kafka_broker,
         "--events-topic", topic, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_stderr(proc: subprocess.Popen, text: str) -> None:
    for line in proc.stderr:  # blocks until the process writes or exits: a state, not a clock
        if text in line:
            return
    raise AssertionError(f"vstream events ended before saying {text!r} (exit {proc.wait()})")


def test_follow_prints_each_new_event_of_its_stream_once(kafka_broker: str) -> None:
    topic = f"test.follow.{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_broker, [topic])
    publisher = EventPublisher(kafka_broker, topic)
    before = _output(PresenceEvent(5, 0.2, "enter", "p1", 1, 3))
    publisher.publish([("cam1", before)], "v")  # published before following: not shown
    proc = _follow(kafka_broker, topic, "cam1")
    try:
        _wait_for_stderr(proc, "following")
        enter = _output(PresenceEvent(50, 2.0, "enter", "p4", 2, 9))
        publisher.publish([("cam2", _output(PresenceEvent(50, 2.0, "enter", "p9", 1, 1)))], "v")
        publisher.publish([("cam1", enter)], "v")
        publisher.publish([("cam1", enter)], "v")  # a restarted worker publishes it again
        publisher.publish([("cam1", _output(PresenceEvent(75, 3.0, "leave", "t7", 1, 7)))], "v")
        lines = [proc.stdout.readline() for _ in range(2)]
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
        publisher.close()
    assert code == 0
    assert [line.split()[1:] for line in lines] == [
        ["cam1", "enter", "p4", "people", "2"], ["cam1", "leave", "t7", "people", "1"]]
    assert lines[0].startswith("00:00:02.0")  # media time: these frames have no capture time
    assert proc.stdout.read() == ""  # the repeat and the other stream were not printed


def test_follow_json_from_the_beginning_gives_the_messages_as_published(kafka_broker: str) -> None:
    topic = f"test.follow.{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_broker, [topic])
    publisher = EventPublisher(kafka_broker, topic)
    publisher.publish([("cam1", _output(PresenceEvent(5, 0.2, "enter", "p1", 1, 3),
                                        PresenceEvent(5, 0.2, "count", "", 1)))], "v")
    publisher.close()
    proc = _follow(kafka_broker, topic, "--from-beginning", "--format", "json")
    try:
        messages = [json.loads(proc.stdout.readline()) for _ in range(2)]
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    assert [(m["kind"], m["person_id"], m["track_id"], m["frame"]) for m in messages] == \
        [("enter", "p1", 3, 5), ("count", "", 0, 5)]


def test_a_follower_started_before_any_worker_waits_for_the_topic_and_misses_nothing(
        kafka_broker: str) -> None:
    """As `tail -F`: an operator may open the follower before the first worker starts. Once a
    worker makes the topic, everything published on it is shown, also what came before the
    follower noticed the topic."""
    topic = f"test.later.{uuid.uuid4().hex[:8]}"
    proc = _follow(kafka_broker, topic)
    try:
        _wait_for_stderr(proc, "waiting for topic")
        ensure_topics(kafka_broker, [topic])  # a worker starts
        publisher = EventPublisher(kafka_broker, topic)
        publisher.publish([("cam1", _output(PresenceEvent(5, 0.2, "enter", "p1", 1, 3)))], "v")
        publisher.close()
        line = proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
    assert code == 0
    assert line.split()[1:] == ["cam1", "enter", "p1", "people", "1"]
