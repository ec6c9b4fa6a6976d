"""Per-stream lag of a worker group: chunks produced for a stream that the group has not processed.

What "lag" means here: the number of messages with the stream's key on its partition at or after
the group's committed offset. The worker commits an offset only after the rows of every chunk
before it are written, so these are exactly the chunks whose results are not yet in the store
(a chunk being processed right now still counts). A group that never committed lags by the whole
partition.

A stream's messages all land on one partition (key = stream_id, kafka-python's murmur2
partitioner, as `ChunkProducer` sends them), but several streams can share a partition, so the
partition's backlog (end offset - committed offset) is only an upper bound for one stream. To
count one stream's own messages the backlog has to be read: `stream_lags` reads at most
`window` messages at the end of each partition it looks at. When the backlog is longer than
that, the stream's lag is known only as at least what was counted (`exact=False`) and at most
the partition's backlog.

`last_chunk_at` is the broker timestamp (the producer's send time) of the newest message of the
stream in that window; None when the window holds none of the stream's messages.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

from vstream.kafka.clients import kafka_consumer
from vstream.kafka.errors import KafkaError

#: messages read at the end of each partition to count streams' own chunks
DEFAULT_WINDOW = 500


@dataclass(frozen=True)
class StreamLag:
    """One stream's backlog in a consumer group (see the module docstring)."""

    stream_id: str
    partition: int
    #: the stream's messages at or after the group's committed offset (a lower bound if not exact)
    lag: int
    #: False when the partition's backlog is longer than the window read
    exact: bool
    #: end offset - committed offset of the stream's partition: an upper bound for `lag`
    partition_lag: int
    #: broker timestamp of the stream's newest message seen, UTC
    last_chunk_at: datetime | None

    @property
    def shown(self) -> str:
        """`lag` for a table: "12", or ">=500" when only a lower bound is known."""
        return str(self.lag) if self.exact else f">={self.lag}"


def partition_for(stream_id: str, partitions: int) -> int:
    """The partition kafka-python's default partitioner gives key `stream_id` (as ingest sends)."""
    from kafka.partitioner.default import murmur2

    return (murmur2(stream_id.encode()) & 0x7FFFFFFF) % partitions


def stream_lags(bootstrap: str, topic: str, group: str, stream_ids: Iterable[str] = (), *,
                window: int = DEFAULT_WINDOW, timeout_s: float = 15.0) -> list[StreamLag]:
    """The lag of group `group` for `stream_ids` and for every other stream seen in the window.

    Reads the group's committed offsets without joining the group (the workers are not
    disturbed). Raises BrokerUnavailableError when no broker answers, KafkaError when `topic`
    does not exist.
    """
    from kafka import TopicPartition
    from kafka.errors import KafkaError as _ClientError

    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    consumer = kafka_consumer(bootstrap, group_id=group, enable_auto_commit=False,
                              client_id="vstream-streams", request_timeout_ms=int(timeout_s * 1000),
                              max_partition_fetch_bytes=16 * 1024 * 1024,
                              # kafka-python 2.3 refuses responses over 1 MB by default
                              receive_message_max_bytes=48 * 1024 * 1024)
    try:
        ids = consumer.partitions_for_topic(topic)
        if not ids:
            raise KafkaError(f"topic {topic!r} does not exist on {bootstrap}")
        count = max(ids) + 1
        wanted = {sid: partition_for(sid, count) for sid in stream_ids}
        tps = [TopicPartition(topic, p) for p in sorted(ids)]
        ends = consumer.end_offsets(tps)
        starts = consumer.beginning_offsets(tps)
        lags: list[StreamLag] = []
        for tp in tps:
            committed = consumer.committed(tp)
            committed = starts[tp] if committed is None else max(committed, starts[tp])
            first = max(starts[tp], ends[tp] - window)
            counts, newest = _scan(consumer, tp, first, ends[tp], committed, timeout_s)
            names = set(counts) | set(newest) | {s for s, p in wanted.items() if p == tp.partition}
            for sid in sorted(names):
                lags.append(StreamLag(sid, tp.partition, counts.get(sid, 0), first <= committed,
                                      ends[tp] - committed, newest.get(sid)))
        return lags
    except _ClientError as ex:
        raise KafkaError(f"could not read the lag of group {group!r} on {topic!r} at "
                         f"{bootstrap}: {ex}") from ex
    finally:
        consumer.close(autocommit=False)


def _scan(consumer, tp, first: int, end: int, committed: int,
          timeout_s: float) -> tuple[dict[str, int], dict[str, datetime]]:
    """Read offsets [first, end) of `tp`: per key, messages at/after `committed`, newest time."""
    counts: dict[str, int] = {}
    newest: dict[str, datetime] = {}
    if first >= end:
        return counts, newest
    consumer.assign([tp])
    consumer.seek(tp, first)
    deadline = time.monotonic() + timeout_s
    while consumer.position(tp) < end:
        if time.monotonic() > deadline:
            raise KafkaError(f"reading {tp.topic}/{tp.partition} offsets {first}..{end} took "
                             f"more than {timeout_s:g} s")
        for record in consumer.poll(timeout_ms=500).get(tp, []):
            if record.offset >= end or record.key is None:
                continue
            sid = record.key.decode(errors="replace")
            if record.offset >= committed:
                counts[sid] = counts.get(sid, 0) + 1
            when = datetime.fromtimestamp(record.timestamp / 1000, tz=timezone.utc)
            if sid not in newest or when > newest[sid]:
                newest[sid] = when
    return counts, newest
