"""Events out: what the worker stored, published as JSON on `vstream.events` for other consumers.

    from vstream.kafka.events import EventPublisher
    events = EventPublisher("127.0.0.1:9092", "vstream.events", metrics=metrics)
    events.open()                                   # creates the topic if missing
    events.publish([(stream_id, stage_output)], model_version)
    events.close()

Like DeepStream's message broker sink, the analysis is pushed to a topic as it happens, so a
consumer reacts to "p4 enters" without polling ClickHouse. One message per `EventRow` (kinds
enter, leave, count, published as they are decided, within seconds of the frame; stream_gap
with the gap's `gap_s` and `reason`) and one `scene` message per closed scene; key = stream ID
(UTF-8), so a stream's messages stay in order on one partition; value = one JSON object with
`"schema": 2` (docs/architecture.md, "Events out", has the fields).
Headers: `kind`, `schema`.

Delivery is at-least-once: the worker publishes after a batch's rows are written and before its
offsets are committed, and waits for the broker's acknowledgement. A worker that stops between
the two replays the chunks, writes nothing new (the store skips known row IDs) and publishes the
same events again, with the same `row_id`: consumers deduplicate on `row_id`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from vstream.kafka.clients import kafka_producer
from vstream.kafka.errors import DeliveryError
from vstream.kafka.topics import DEFAULT_PARTITIONS, EVENTS_TOPIC, ensure_topics
from vstream.metrics import Metrics
from vstream.store.analysis_rows import event_rows, scene_rows
from vstream.store.rows import EventRow
from vstream.stream.stages import StageOutput, StreamGap

log = logging.getLogger(__name__)

#: version of the JSON messages; bumped when a field changes meaning or goes away (adding a
#: field does not bump it: consumers ignore fields they do not know). 2: events are live and
#: lost `scene_index` (their frame places them in their scene)
SCHEMA_VERSION = 2
#: `kind` of the message for a closed scene (the others are EventRow kinds: enter, leave,
#: count, stream_gap)
SCENE_KIND = "scene"


def event_messages(stream_id: str, model_version: str, out: StageOutput,
                   captured_at: Callable[[int], float | None] | None = None) -> list[dict[str, Any]]:
    """The JSON-ready messages of one push's output: a stream gap first (its chunk opened the
    push), then the presence events (enter, leave, count) in the order they were decided, then
    the scenes that closed. Events do not wait for their scene: that is what makes them live.

    Detections are not published (one per box per analysed frame: the store is for those).
    `row_id` is a decimal string: it is a UInt64, and JSON numbers past 2^53 lose digits in
    many parsers (JavaScript's among them), which would break deduplication. `captured_at`
    (frame -> wall-clock capture time, None where unknown) adds `captured_at` to the events of
    a live stream.
    """
    messages = [_gap_message(g) for g in out.gaps]
    messages += [event_message(e) for e in event_rows(stream_id, model_version, out.events)]
    if captured_at is not None:
        for message in messages:
            at = captured_at(message["frame"])
            if at is not None:
                message["captured_at"] = at
    # scene_rows is what the store writes: same row IDs and fields as the scenes table
    for scene in scene_rows(stream_id, model_version, [a.scene for a in out.scenes]):
        messages.append({
            "schema": SCHEMA_VERSION, "kind": SCENE_KIND, "stream_id": scene.stream_id,
            "row_id": str(scene.row_id), "model_version": scene.model_version,
            "scene_index": scene.scene_index, "start_s": scene.start_s, "end_s": scene.end_s,
            "start_frame": scene.start_frame, "end_frame": scene.end_frame,
            "people": list(scene.people), "tags": list(scene.tags),
            "description": scene.description,
        })
    return messages


def event_message(event: EventRow) -> dict[str, Any]:
    """The message of one event row (fields as in the `events` table)."""
    return {
        "schema": SCHEMA_VERSION, "kind": event.kind, "stream_id": event.stream_id,
        "row_id": str(event.row_id), "model_version": event.model_version,
        "t_s": event.t_s, "frame": event.frame,
        "person_id": event.person_id, "people": event.people, "track_id": event.track_id,
    }


def _gap_message(gap: StreamGap) -> dict[str, Any]:
    """The message of a `stream_gap` row, with what the row has no column for."""
    return event_message(gap.row) | {"gap_s": gap.seconds, "reason": gap.reason}


class EventPublisher:
    """Publishes the events of stored stage outputs to `topic` (see the module docstring).

    `open()` creates the topic if missing and connects (publish opens on first use too);
    `publish` returns once the broker acknowledged every message, or raises DeliveryError;
    `close()` releases the client. `metrics` counts published messages by kind.
    """

    def __init__(self, bootstrap: str, topic: str = EVENTS_TOPIC, *,
                 metrics: Metrics | None = None, partitions: int = DEFAULT_PARTITIONS,
                 timeout_s: float = 30.0) -> None:
        if not topic:
            raise ValueError("events topic must be a non-empty name (pass no publisher to "
                             "disable events)")
        self.bootstrap = bootstrap
        self.topic = topic
        self.metrics = metrics
        self.partitions = partitions
        self.timeout_s = timeout_s
        #: messages acknowledged by the broker
        self.published = 0
        self._producer = None

    def open(self) -> None:
        """Create the topic if missing and connect (idempotent)."""
        if self._producer is not None:
            return
        # Explicitly, with vstream's partition count: an auto-created topic gets the broker's.
        ensure_topics(self.bootstrap, [self.topic], self.partitions)
        self._producer = kafka_producer(
            self.bootstrap, client_id="vstream-worker-events", acks="all",
            fix="for the events topic: start one, or disable events with --events-topic ''",
            # one request in flight: a retried send cannot overtake the next one, so a
            # stream's events stay in order
            max_in_flight_requests_per_connection=1,
            delivery_timeout_ms=int(self.timeout_s * 1000),
            request_timeout_ms=int(self.timeout_s * 1000),
            key_serializer=str.encode,
            value_serializer=lambda m: json.dumps(m, ensure_ascii=False,
                                                  separators=(",", ":")).encode())

    def publish(self, outputs: Iterable[tuple[str, StageOutput]], model_version: str, *,
                captured_at: Mapping[str, Callable[[int], float | None]] | None = None) -> int:
        """Send the events of (stream ID, stored output) pairs and wait for their
        acknowledgement; return the messages sent. `captured_at` gives a stream's capture time
        of a frame (live streams; see `event_messages`). Raises DeliveryError when one is
        refused or not acknowledged within `timeout_s` (the caller then must not commit its
        offsets)."""
        from kafka.errors import KafkaError as _ClientError

        self.open()
        sent = []
        for stream_id, out in outputs:
            for message in event_messages(stream_id, model_version, out,
                                          (captured_at or {}).get(stream_id)):
                headers = [("kind", message["kind"].encode()),
                           ("schema", str(SCHEMA_VERSION).encode())]
                try:
                    future = self._producer.send(self.topic, key=stream_id, value=message,
                                                 headers=headers)
                except _ClientError as ex:
                    raise DeliveryError(f"event {message['kind']} of {stream_id} not sent to "
                                        f"{self.topic}: {ex}") from ex
                sent.append((message["kind"], future))
        for kind, future in sent:
            try:
                # the first wait covers the batch: later futures are (nearly) done by then
                future.get(timeout=self.timeout_s)
            except _ClientError as ex:
                raise DeliveryError(f"{kind} event not acknowledged by {self.topic} at "
                                    f"{self.bootstrap}: {ex}") from ex
            self.published += 1
            if self.metrics is not None:
                self.metrics.events_published.labels(kind).inc()
        if sent:
            log.debug("published %d events to %s", len(sent), self.topic)
        return len(sent)

    def close(self) -> None:
        """Flush and release the client (idempotent)."""
        if self._producer is not None:
            self._producer.close(timeout=self.timeout_s)
            self._producer = None
