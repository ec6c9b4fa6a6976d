"""Store fixtures: the same test runs on embedded chDB and on a real ClickHouse server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from vstream.store import ClickHouseWriter, StoreURL, open_store

BACKENDS = ["chdb", "server"]


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
