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


def test_a_missing_server_database_is_created(clickhouse_server: str) -> None:
    import dataclasses
    import uuid

    from vstream.store import StoreURL, open_backend, open_store

    base = StoreURL.parse(clickhouse_server)
    url = dataclasses.replace(base, database=f"new_{uuid.uuid4().hex[:10]}")
    with open_store(url) as store:
        assert store.count("scenes") == 0
    with open_backend(base) as admin:
        assert admin.query(f"SELECT count() FROM system.databases "
                           f"WHERE name = '{url.database}'").scalar() == 1
        admin.execute(f"DROP DATABASE {url.database}")


def test_a_second_process_on_a_chdb_store_is_told_who_holds_it(tmp_path) -> None:
    import subprocess
    import sys

    store = tmp_path / "store"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from vstream.store import open_store; "
         f"s = open_store('chdb://{store}'); print('open', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        r = subprocess.run([sys.executable, "-m", "vstream", "sql", "SELECT 1", "--store",
                            f"chdb://{store}"], capture_output=True, text=True, timeout=120)
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    assert r.returncode == 5
    assert r.stderr.startswith(f"vstream: error: another process holds the chDB store {store} "
                               f"(pid {holder.pid})")
    assert len(r.stderr.strip().splitlines()) == 1
