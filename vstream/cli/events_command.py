"""`vstream events`: who came and went, from the store or live from the events topic.

    vstream events cam7                  # the stored events of cam7, oldest first
    vstream events cam7 --follow         # new events of cam7 as the worker publishes them
    vstream events --follow --format json | jq .   # every stream, one JSON object per line

One line per event: when (the wall-clock time the frame was captured, for a live stream, else
its media time), the stream, the kind (enter, leave, count, stream_gap, scene), the person and
the people in view. Following reads `vstream.events` without a consumer group (it commits
nothing and disturbs no one), from the end unless `--from-beginning`, and skips the repeats
that at-least-once delivery brings (same `row_id`).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any, TextIO

from vstream.errors import VStreamError
from vstream.media import format_timecode

log = logging.getLogger(__name__)

#: row IDs remembered to drop repeats (a worker that restarts republishes a batch's events)
SEEN_ROW_IDS = 10_000
#: seconds between looks for an events topic that does not exist yet
TOPIC_POLL_S = 1.0


def event_line(message: dict[str, Any]) -> str:
    """One readable line for an events-topic message (or a stored event in that shape)."""
    if message.get("captured_at") is not None:
        when = datetime.fromtimestamp(float(message["captured_at"]), timezone.utc)
        at = when.strftime("%Y-%m-%d %H:%M:%S.%f")[:-5] + "Z"
    else:
        at = format_timecode(float(message.get("t_s", message.get("start_s", 0.0))))
    kind = str(message.get("kind", "?"))
    head = f"{at}  {message.get('stream_id', '?')}  {kind:<10}"
    if kind == "scene":
        people = " ".join(message.get("people", [])) or "-"
        span = (f"{format_timecode(float(message['start_s']))}–"
                f"{format_timecode(float(message['end_s']))}")
        return f"{head} {message.get('scene_index')}  {span}  people {people}"
    if kind == "stream_gap":
        return f"{head} video lost {float(message.get('gap_s', 0.0)):.1f} s: {message.get('reason', '')}"
    person = message.get("person_id") or "-"
    return f"{head} {person:<6} people {message.get('people', 0)}"


def stored_messages(store, stream_id: str) -> list[dict[str, Any]]:
    """The stored events of `stream_id` (its latest model version) as topic-shaped messages,
    in frame order."""
    from vstream.kafka.events import event_message

    stream = store.stream(stream_id)
    if stream is None:
        scenes = store.scenes_of(stream_id)
        version = scenes[0].model_version if scenes else None
    else:
        version = stream.model_version
    if version is None:
        raise VStreamError(f"no stream {stream_id!r} in the store (list them with: vstream streams)")
    return [event_message(e) for e in store.events_of(stream_id, version)]


def write_messages(messages: Iterable[dict[str, Any]], fmt: str, out: TextIO = sys.stdout) -> int:
    """Write each message as a line (`fmt` "line" or "json"); return how many."""
    n = 0
    for message in messages:
        out.write((json.dumps(message, ensure_ascii=False) if fmt == "json" else event_line(message))
                  + "\n")
        out.flush()
        n += 1
    return n


def follow(bootstrap: str, topic: str, stream_id: str | None, *, from_beginning: bool = False,
           stop: threading.Event | None = None) -> Iterator[dict[str, Any]]:
    """The messages of `topic` (those of `stream_id` only, if given) as they arrive, until
    `stop` is set. A message that is not a JSON object is logged and skipped."""
    from kafka import TopicPartition

    from vstream.kafka.clients import kafka_consumer

    stop = stop or threading.Event()  # none given: until the process is stopped
    consumer = kafka_consumer(bootstrap, client_id="vstream-events-follow", enable_auto_commit=False,
                              group_id=None, consumer_timeout_ms=500)
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:  # as `tail -F`: a follower may be started before the first worker
            log.warning("waiting for topic %s at %s: a worker creates it when it starts "
                        "(Ctrl-C stops)", topic, bootstrap)
            from_beginning = True  # every event on a topic made since is new
        while not partitions:
            if stop.wait(TOPIC_POLL_S):
                return
            partitions = consumer.partitions_for_topic(topic)
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        (consumer.seek_to_beginning if from_beginning else consumer.seek_to_end)(*assigned)
        for tp in assigned:  # resolve the positions now: what is published from here on is seen
            consumer.position(tp)
        log.warning("following %s at %s%s (Ctrl-C stops)", topic, bootstrap,
                    f" for stream {stream_id}" if stream_id else "")
        seen: deque[str] = deque(maxlen=SEEN_ROW_IDS)
        seen_set: set[str] = set()
        while not stop.is_set():
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    message = _decode(record)
                    if message is None or (stream_id and message.get("stream_id") != stream_id):
                        continue
                    row_id = str(message.get("row_id", ""))
                    if row_id and row_id in seen_set:
                        continue
                    if row_id:
                        if len(seen) == seen.maxlen:
                            seen_set.discard(seen[0])
                        seen.append(row_id)
                        seen_set.add(row_id)
                    yield message
    finally:
        consumer.close()


def _decode(record) -> dict[str, Any] | None:
    try:
        message = json.loads(record.value)
    except (TypeError, ValueError, UnicodeDecodeError) as ex:
        log.warning("skipped offset %d of partition %d: not JSON (%s)", record.offset,
                    record.partition, ex)
        return None
    if not isinstance(message, dict):
        log.warning("skipped offset %d of partition %d: not a JSON object", record.offset,
                    record.partition)
        return None
    return message
