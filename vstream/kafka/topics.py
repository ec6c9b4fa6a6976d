"""Topic names, explicit topic creation, and partition counts.

Create topics explicitly: a broker that auto-creates them picks its own partition count (Tansu:
4), and co-partitioned topics must agree on it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from vstream.kafka.clients import kafka_admin, kafka_consumer
from vstream.kafka.errors import BrokerUnavailableError, KafkaError

log = logging.getLogger(__name__)

#: GOP chunks, key = stream_id, value = GopChunk.to_bytes()
CHUNKS_TOPIC = "vstream.chunks"
#: pipeline events (scene closed, stream gap, ...) for other consumers
EVENTS_TOPIC = "vstream.events"
#: the people registry every worker shares (`vstream.kafka.people_registry`): one partition
PEOPLE_TOPIC = "vstream.people"
DEFAULT_PARTITIONS = 4


def people_snapshot_topic(people_topic: str) -> str:
    """The topic of snapshots of the people registry `people_topic` (`vstream.people.snapshots`):
    one partition, compacted, key = model version, value = `vstream.track.people_snapshot`."""
    return f"{people_topic}.snapshots"


def dlq_topic(topic: str) -> str:
    """The dead-letter topic for messages of `topic` that a worker cannot process."""
    return f"{topic}.dlq"


def ensure_topics(bootstrap: str, names: Iterable[str], partitions: int = DEFAULT_PARTITIONS,
                  *, replication: int = 1, configs: dict[str, str] | None = None,
                  timeout_s: float = 10.0) -> list[str]:
    """Create the topics in `names` that do not exist yet (with topic `configs`, such as
    `{"retention.ms": "-1"}`); return those created.

    Existing topics are left as they are (their partition count is not checked: kafka-python's
    admin metadata call fails against Tansu 0.6, which reports ACL operations it does not know).
    """
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError as _ClientError
    from kafka.errors import TopicAlreadyExistsError

    admin = kafka_admin(bootstrap, client_id="vstream-admin",
                        request_timeout_ms=int(timeout_s * 1000))
    created = []
    try:
        for name in dict.fromkeys(names):
            try:
                admin.create_topics([NewTopic(name, partitions, replication,
                                              topic_configs=dict(configs or {}))],
                                    timeout_ms=int(timeout_s * 1000))
            except TopicAlreadyExistsError:
                continue
            except _ClientError as ex:
                raise KafkaError(f"could not create topic {name!r} on {bootstrap}: {ex}") from ex
            log.info("created topic %s (%d partitions)", name, partitions)
            created.append(name)
    finally:
        admin.close()
    return created


def topic_partitions(bootstrap: str, topic: str, timeout_s: float = 10.0) -> int:
    """The partition count of `topic` (which must exist). Raises BrokerUnavailableError."""
    consumer = kafka_consumer(bootstrap, client_id="vstream-worker-meta")
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            partitions = consumer.partitions_for_topic(topic)
            if partitions:
                return len(partitions)
            if time.monotonic() > deadline:
                raise BrokerUnavailableError(f"topic {topic!r} does not exist on {bootstrap}")
            time.sleep(0.2)
    finally:
        consumer.close()
