"""Kafka contracts: topic names, the chunk producer, and their errors.

One message on the chunks topic is one GopChunk: key = stream_id (UTF-8), value =
`GopChunk.to_bytes()`, headers `seq`, `stream_id`, `format` (e.g. b"vsgc/1"). A stream's messages
share a key, so they stay ordered on one partition.
"""

from vstream.kafka.errors import BrokerUnavailableError, DeliveryError, KafkaError, ProducerBlockedError
from vstream.kafka.producer import ChunkProducer
from vstream.kafka.topics import CHUNKS_TOPIC, EVENTS_TOPIC, dlq_topic, ensure_topics

__all__ = [
    "CHUNKS_TOPIC", "EVENTS_TOPIC", "BrokerUnavailableError", "ChunkProducer", "DeliveryError",
    "KafkaError", "ProducerBlockedError", "dlq_topic", "ensure_topics",
]
