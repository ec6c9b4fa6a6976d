"""The faust adapter (vstream/kafka/faust_app.py): the release it was written against, and that
every faust internal it overrides or reads is still there. A faust change that renamed one would
otherwise show up only as lost messages in the slow SIGKILL tests."""

from __future__ import annotations

import faust
import pytest
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.transport.drivers import aiokafka as faust_aiokafka

from vstream.errors import VStreamError
from vstream.kafka import faust_app


@pytest.mark.parametrize("version", ["0.15.0", "0.15.3", "0.15.10"])
def test_the_0_15_series_is_accepted(version: str) -> None:
    faust_app.check_faust_version(version)


@pytest.mark.parametrize("version", ["0.16.0", "0.14.9", "1.0.0", "0.1.5"])
def test_another_release_is_one_line_that_says_what_to_install(version: str) -> None:
    with pytest.raises(VStreamError, match=rf"needs faust-streaming 0\.15\.x .*found {version}: "
                                           r"pip install 'faust-streaming>=0.15,<0.16'"):
        faust_app.check_faust_version(version)


def test_the_installed_faust_is_the_one_the_adapter_was_written_for() -> None:
    assert faust.__version__.startswith(faust_app.FAUST_SERIES)


@pytest.mark.parametrize(
    ("owner", "name"),
    [
        (faust_aiokafka.AIOKafkaConsumerThread, "seek_to_committed"),
        (faust_aiokafka.AIOKafkaConsumerThread, "call_thread"),
        (faust_aiokafka.AIOKafkaConsumerThread, "_ensure_consumer"),
        (faust_aiokafka.Consumer, "_new_consumer_thread"),
        (faust_aiokafka.Transport, "Consumer"),
        (Recovery, "on_recovery_completed"),
        (Recovery, "_resume_streams"),
        (TableManager, "recovery"),
        (faust.App, "_new_transport"),
        (faust.Sensor, "on_commit_completed"),
    ],
)
def test_every_overridden_faust_hook_still_exists(owner: type, name: str) -> None:
    assert hasattr(owner, name), f"faust moved {owner.__name__}.{name}: see faust_app.py"


def test_the_apps_consumer_and_recovery_are_the_fixed_ones() -> None:
    app = faust_app.RewindingApp("adapter-test", rewind_topics=["t"], broker="kafka://127.0.0.1:1",
                                 store="memory://", web_enabled=False, autodiscover=False)
    assert isinstance(app.transport, faust_app._RewindingTransport)
    assert isinstance(app.tables.recovery, faust_app._ReseekingRecovery)
    consumer = app.consumer
    assert isinstance(consumer, faust_app._RewindingConsumer)
    assert dict(faust_app.committed_offsets(consumer)) == {}  # nothing committed yet
