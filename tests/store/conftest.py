"""Store fixtures: the same test runs on embedded chDB and on a real ClickHouse server."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator

import pytest

from vstream.store import ClickHouseWriter, StoreURL, open_backend, open_store

BACKENDS = ["chdb", "server"]


@pytest.fixture
def server_url(clickhouse_server: str) -> Iterator[StoreURL]:
    """A fresh, empty database on the test server, dropped afterwards."""
    base = StoreURL.parse(clickhouse_server)
    database = f"t_{uuid.uuid4().hex[:12]}"
    with open_backend(base) as admin:
        admin.execute(f"CREATE DATABASE {database}")
    yield dataclasses.replace(base, database=database)
    with open_backend(base) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {database}")


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path) -> StoreURL:
    """An empty store: a chDB directory under tmp_path, or a fresh database on the server."""
    if request.param == "chdb":
        return StoreURL.parse(f"chdb://{tmp_path / 'store'}")
    return request.getfixturevalue("server_url")


@pytest.fixture
def store(store_url: StoreURL) -> Iterator[ClickHouseWriter]:
    """An opened store (schema ensured) on each backend; closed afterwards."""
    with open_store(store_url) as writer:
        yield writer
