"""Kafka failures a user sees (one line each through the CLI)."""

from vstream.errors import VStreamError


class KafkaError(VStreamError):
    """Base of every Kafka failure vstream reports."""

    exit_code = 7


class BrokerUnavailableError(KafkaError):
    """No broker answers at the bootstrap address (or it stopped answering metadata requests)."""


class ProducerBlockedError(KafkaError):
    """The send buffer stayed full past the timeout: the broker is not taking messages."""


class DeliveryError(KafkaError):
    """The broker refused a message or it could not be delivered before its deadline."""
