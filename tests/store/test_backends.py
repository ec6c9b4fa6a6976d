"""Failures a user sees from the store: one line, no password, a StoreError."""

from __future__ import annotations

import socket
from urllib.parse import quote

import pytest

from vstream.errors import StoreError, VStreamError
from vstream.store import StoreURL, open_store

SECRET = "hunter2-s3cret"


def _closed_port() -> int:
    # A port nothing listens on: bind, read the number, close.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_server_is_one_line_without_password() -> None:
    url = f"clickhouse://vstream:{SECRET}@127.0.0.1:{_closed_port()}/default"
    with pytest.raises(StoreError) as info:
        open_store(url)
    message = str(info.value)
    assert message.startswith("cannot connect to clickhouse://***@127.0.0.1:")
    assert "refused" in message.lower()
    assert "\n" not in message
    assert SECRET not in message
    assert isinstance(info.value, VStreamError) and info.value.exit_code == 5


def test_wrong_password_is_one_line_without_password(clickhouse_server: str) -> None:
    url = StoreURL.parse(clickhouse_server)
    wrong = f"clickhouse://{url.user}:{quote(SECRET)}@{url.host}:{url.port}/{url.database}"
    with pytest.raises(StoreError) as info:
        open_store(wrong)
    message = str(info.value)
    assert "password" in message.lower()
    assert "\n" not in message
    assert SECRET not in message
    assert "Stack trace" not in message


def test_missing_database_is_a_store_error(clickhouse_server: str) -> None:
    from dataclasses import replace

    url = replace(StoreURL.parse(clickhouse_server), database="no_such_db")
    with pytest.raises(StoreError, match="no_such_db") as info:
        open_store(url)
    assert "\n" not in str(info.value)
    assert url.password not in str(info.value)


def test_server_sql_errors_are_one_line(store) -> None:
    with pytest.raises(StoreError) as info:
        store.backend.execute("CREATE TABLE broken (x NoSuchType) ENGINE = Memory")
    message = str(info.value)
    assert "NoSuchType" in message
    assert "\n" not in message and "Stack trace" not in message


def test_chdb_store_in_an_unwritable_place_is_a_store_error(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot create chDB store directory"):
        open_store(f"chdb://{blocker}/store")


def test_closed_store_says_so(tmp_path) -> None:
    store = open_store(f"chdb://{tmp_path}/s")
    store.close()
    store.close()  # twice is fine
    with pytest.raises(StoreError, match="closed"):
        store.count("scenes")


def test_unreachable_server_prints_nothing_but_the_error() -> None:
    # Run as a user would (no logging configured): stderr must not get the driver's traceback.
    import subprocess
    import sys

    code = (
        "from vstream.store import open_store\n"
        "try:\n"
        f"    open_store('clickhouse://u:{SECRET}@127.0.0.1:{_closed_port()}/db')\n"
        "except Exception as ex:\n"
        "    print(ex)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stderr == ""
    assert done.stdout.count("\n") == 1 and "cannot connect" in done.stdout
    assert SECRET not in done.stdout
