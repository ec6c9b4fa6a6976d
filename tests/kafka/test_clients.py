"""Kafka clients: one factory, one line for a broker that does not answer."""

from __future__ import annotations

import socket

import kafka
import pytest

from vstream.kafka.clients import (
    RECONNECT_BACKOFF_MAX_MS, START_A_BROKER, kafka_admin, kafka_consumer, kafka_producer,
)
from vstream.kafka.errors import BrokerUnavailableError


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("make", [kafka_producer, kafka_consumer, kafka_admin])
def test_no_broker_is_one_line(make) -> None:
    bootstrap = f"127.0.0.1:{_closed_port()}"
    with pytest.raises(BrokerUnavailableError) as caught:
        make(bootstrap, api_version_auto_timeout_ms=300)
    assert str(caught.value) == f"no Kafka broker answers at {bootstrap} ({START_A_BROKER})"
    assert isinstance(caught.value.__cause__, kafka.errors.NoBrokersAvailable)


def test_fix_ends_the_line() -> None:
    bootstrap = f"127.0.0.1:{_closed_port()}"
    with pytest.raises(BrokerUnavailableError, match=r"\(disable it\)$"):
        kafka_producer(bootstrap, fix="disable it", api_version_auto_timeout_ms=300)


class _Recorder:
    def __init__(self, *args, **config) -> None:
        self.args, self.config = args, config


def test_config_is_passed_through_and_producers_reconnect_fast(monkeypatch) -> None:
    for name in ("KafkaProducer", "KafkaConsumer", "KafkaAdminClient"):
        monkeypatch.setattr(kafka, name, _Recorder)
    p = kafka_producer("b:1", acks="all")
    assert p.config == {"bootstrap_servers": "b:1", "acks": "all",
                        "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS}
    assert kafka_producer("b:1", reconnect_backoff_max_ms=5).config["reconnect_backoff_max_ms"] == 5
    c = kafka_consumer("b:1", "t1", "t2", group_id="g")
    assert c.args == ("t1", "t2") and c.config == {"bootstrap_servers": "b:1", "group_id": "g"}
    assert kafka_admin("b:1", client_id="a").config == {"bootstrap_servers": "b:1", "client_id": "a"}
