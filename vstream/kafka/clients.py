"""Kafka clients, made in one place: a broker that does not answer is one line, the same everywhere.

    from vstream.kafka.clients import kafka_admin, kafka_consumer, kafka_producer
    p = kafka_producer(bootstrap, client_id="vstream-ingest", acks="all")

kafka-python raises NoBrokersAvailable from a client's constructor when no broker answers the
bootstrap address; these functions turn it into `BrokerUnavailableError` ("no Kafka broker
answers at HOST:PORT (start one, ...)"), which the CLI prints as one line with exit code 7.
Everything else is passed to kafka-python as given. kafka-python is imported on the first call,
not with this module.
"""

from __future__ import annotations

import logging
from typing import Any

from vstream.kafka.errors import BrokerUnavailableError

log = logging.getLogger(__name__)

#: longest wait between two attempts to reach a broker that is down. kafka-python backs off
#: reconnects exponentially up to 30 s by default, so after a broker restart chunks waited up to
#: that long in the buffer (seen: acks 10 s after the broker was back from a 14 s outage); 1 s
#: is the Java client's cap. Producers get it unless they say otherwise.
RECONNECT_BACKOFF_MAX_MS = 1000
#: what the user can do about a broker that does not answer
START_A_BROKER = "start one, or point --kafka / VSTREAM_KAFKA at it"


def kafka_producer(bootstrap: str, *, fix: str = START_A_BROKER, **config: Any):
    """A `kafka.KafkaProducer` connected to `bootstrap`; `fix` ends the error's line."""
    config.setdefault("reconnect_backoff_max_ms", RECONNECT_BACKOFF_MAX_MS)
    return _connect("KafkaProducer", bootstrap, fix, (), config)


def close_producer(producer: Any, timeout_s: float, delivered: bool) -> None:
    """Close a kafka-python producer whose records were all `delivered` (flushed), or not: then
    its sender is aborted first, since kafka-python 2.3's close() flushes and raises on timeout
    without reaching its own force-close (undelivered batches fail, through their callbacks).
    A client that still does not close cleanly is logged, not raised."""
    from kafka.errors import KafkaError as ClientError

    if not delivered:
        sender = getattr(producer, "_sender", None)
        if sender is not None:
            sender.force_close()
            sender.join(5)
    try:
        producer.close(timeout=timeout_s if delivered else 0)
    except ClientError:
        log.warning("Kafka client did not close cleanly", exc_info=True)


def kafka_consumer(bootstrap: str, *topics: str, fix: str = START_A_BROKER, **config: Any):
    """A `kafka.KafkaConsumer` connected to `bootstrap` (subscribed to `topics`, if any)."""
    return _connect("KafkaConsumer", bootstrap, fix, topics, config)


def kafka_admin(bootstrap: str, *, fix: str = START_A_BROKER, **config: Any):
    """A `kafka.KafkaAdminClient` connected to `bootstrap`."""
    return _connect("KafkaAdminClient", bootstrap, fix, (), config)


def _connect(kind: str, bootstrap: str, fix: str, args: tuple, config: dict[str, Any]):
    import kafka
    from kafka.errors import NoBrokersAvailable

    try:
        return getattr(kafka, kind)(*args, bootstrap_servers=bootstrap, **config)
    except NoBrokersAvailable as ex:
        raise BrokerUnavailableError(f"no Kafka broker answers at {bootstrap} ({fix})") from ex
