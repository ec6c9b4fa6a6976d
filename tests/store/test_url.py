"""Store URL parsing: what a user types, what vstream connects to, what it prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from vstream.store import StoreURL, default_store_url

CH = "clickhouse"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("chdb:///var/lib/vstream", StoreURL("chdb", path="/var/lib/vstream")),
        ("chdb://data/store", StoreURL("chdb", path="data/store")),
        ("CHDB:///x", StoreURL("chdb", path="/x")),
        ("chdb:///dir%20with%20space", StoreURL("chdb", path="/dir with space")),
        ("clickhouse://host", StoreURL(CH, host="host", port=9000, database="default")),
        ("clickhouse://u@host:9440", StoreURL(CH, host="host", port=9440, user="u")),
        (
            "clickhouse://u:pw@db.example:9001/vstream",
            StoreURL(CH, host="db.example", port=9001, database="vstream", user="u", password="pw"),
        ),
        (
            "clickhouse://u:a%3Ab%40c%2Fd@host/db",
            StoreURL(CH, host="host", database="db", user="u", password="a:b@c/d"),
        ),
        ("clickhouse://u:pw@[::1]:9000/db", StoreURL(CH, host="::1", database="db", user="u", password="pw")),
        ("  clickhouse://host/  ", StoreURL(CH, host="host")),
    ],
)
def test_parse(url: str, expected: StoreURL) -> None:
    assert StoreURL.parse(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty store URL"),
        ("/var/lib/vstream", "has no scheme"),
        ("postgres://u:pw@host/db", "unknown store URL scheme 'postgres'"),
        ("chdb://", "names no directory"),
        ("chdb:///x?mode=ro", "query or fragment"),
        ("clickhouse://", "names no host"),
        ("clickhouse://u:pw@:9000/db", "names no host"),
        ("clickhouse://host:port/db", "bad port"),
        ("clickhouse://host:99999/db", "bad port"),
        ("clickhouse://host/db/extra", "has database 'db/extra'"),
        ("clickhouse://host/db?secure=1", "query or fragment"),
    ],
)
def test_bad_urls_say_how_to_fix(url: str, message: str) -> None:
    with pytest.raises(ValueError, match="^.*" + message.replace("?", r"\?")) as info:
        StoreURL.parse(url)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("clickhouse://u:hunter2@host:9000/db", "clickhouse://***@host:9000/db"),
        ("clickhouse://u:hunter2@host", "clickhouse://***@host:9000/default"),
        ("clickhouse://u:hun%20ter2@host", "clickhouse://***@host:9000/default"),
        ("clickhouse://u@host/db", "clickhouse://***@host:9000/db"),
        ("clickhouse://host", "clickhouse://host:9000/default"),
        ("clickhouse://default:hunter2@host", "clickhouse://***@host:9000/default"),
        ("clickhouse://u:hunter2@[::1]:9000/db", "clickhouse://***@[::1]:9000/db"),
        ("chdb:///var/lib/vstream", "chdb:///var/lib/vstream"),
    ],
)
def test_printing_never_shows_the_password(url: str, shown: str) -> None:
    parsed = StoreURL.parse(url)
    assert str(parsed) == shown
    assert repr(parsed) == f"StoreURL({shown!r})"
    assert "hunter2" not in f"{parsed} {parsed!r} {[parsed]} {parsed.__dict__.keys()}"
    assert "ter2" not in str(parsed)


@pytest.mark.parametrize(
    "url",
    [
        "clickhouse://u:hunter2@host:notaport/db",
        "clickhouse://u:hunter2@host/bad-db",
        "clickhouse://u:hunter2@host/db?x=1",
        "clickhouse://u:hun/ter2@host/db",  # unencoded '/' in the password
        "u:hunter2@host/db",  # scheme forgotten
        "mysql://u:hunter2@host/db",
    ],
)
def test_errors_about_bad_urls_never_show_the_password(url: str) -> None:
    with pytest.raises(ValueError) as info:
        StoreURL.parse(url)
    assert "hunter2" not in str(info.value)
    assert "ter2" not in str(info.value)


def test_default_store_url_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_store_url() == StoreURL("chdb", path=str(tmp_path / "vstream" / "store"))
    assert str(default_store_url()) == f"chdb://{tmp_path}/vstream/store"


@pytest.mark.parametrize("xdg", [None, "", "relative/dir"])
def test_default_store_url_falls_back_to_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, xdg: str | None
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    if xdg is None:
        monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_DATA_HOME", xdg)
    expected = tmp_path / ".local" / "share" / "vstream" / "store"
    assert default_store_url() == StoreURL("chdb", path=str(expected))
