"""Store URLs: where vstream keeps its rows.

Two schemes:

- ``chdb:///abs/path`` or ``chdb://relative/path``: embedded chDB, a directory on this machine.
- ``clickhouse://user:pass@host:port/db``: a ClickHouse server over the native protocol
  (port defaults to 9000, database to ``default``, user to ``default``).

A parsed `StoreURL` prints its credentials as ``***`` (`vstream.redact.redact_url`), so it is
safe in logs and error messages.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from vstream.redact import redact_url

DEFAULT_PORT = 9000
DEFAULT_DATABASE = "default"
DEFAULT_USER = "default"

# ClickHouse database names we accept in a URL: plain identifiers, so they can be used unquoted.
_DATABASE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_EXAMPLES = "chdb:///var/lib/vstream or clickhouse://user:pass@host:9000/db"


@dataclass(frozen=True)
class StoreURL:
    """A parsed store URL.

    For ``chdb`` only `path` is set. For ``clickhouse`` `host`, `port`, `database`, `user` and
    `password` are set. `str` and `repr` show ``***@`` in place of the user and password (the
    one redactor's shape; a URL with neither shows no userinfo), so a StoreURL can go into logs
    and error messages. Build one with `StoreURL.parse`.
    """

    scheme: str
    path: str = ""
    host: str = ""
    port: int = DEFAULT_PORT
    database: str = DEFAULT_DATABASE
    user: str = DEFAULT_USER
    password: str = field(default="", repr=False)

    @classmethod
    def parse(cls, url: str) -> StoreURL:
        """Parse ``chdb://...`` or ``clickhouse://...``; raise ValueError saying how to fix it."""
        if not isinstance(url, str) or not url.strip():
            raise ValueError(f"empty store URL: give one like {_EXAMPLES}")
        url = url.strip()
        scheme, sep, rest = url.partition("://")
        if not sep:
            raise ValueError(
                f"store URL {redact_url(url)!r} has no scheme: write it like {_EXAMPLES}")
        scheme = scheme.lower()
        if scheme == "chdb":
            return cls._parse_chdb(url, rest)
        if scheme == "clickhouse":
            return cls._parse_clickhouse(url)
        raise ValueError(
            f"unknown store URL scheme {scheme!r} in {redact_url(url)!r}: use chdb:// (embedded, a "
            f"directory) or clickhouse:// (a server), e.g. {_EXAMPLES}"
        )

    @classmethod
    def _parse_chdb(cls, url: str, rest: str) -> StoreURL:
        # chdb:///abs/path keeps its leading slash; chdb://rel/path is relative to the cwd.
        # No query strings or fragments: a '?' in a directory name is more likely a mistake.
        if not rest:
            raise ValueError(
                f"store URL {redact_url(url)!r} names no directory: "
                f"write chdb:///absolute/dir or chdb://relative/dir"
            )
        if "?" in rest or "#" in rest:
            raise ValueError(
                f"store URL {redact_url(url)!r} has a query or fragment; "
                f"chdb:// takes only a directory path"
            )
        return cls(scheme="chdb", path=unquote(rest))

    @classmethod
    def _parse_clickhouse(cls, url: str) -> StoreURL:
        parts = urlsplit(url)
        shown = redact_url(url)
        if parts.query or parts.fragment:
            raise ValueError(
                f"store URL {shown!r} has a query or fragment; settings are not taken from the URL: "
                f"write clickhouse://user:pass@host:port/db"
            )
        try:
            port = parts.port
        except ValueError:
            raise ValueError(
                f"store URL {shown!r} has a bad port: write a number 1-65535, e.g. host:9000"
            ) from None
        host = parts.hostname or ""
        if not host:
            raise ValueError(
                f"store URL {shown!r} names no host: write clickhouse://user:pass@host:9000/db"
            )
        database = parts.path.lstrip("/") or DEFAULT_DATABASE
        if not _DATABASE_RE.match(database):
            raise ValueError(
                f"store URL {shown!r} has database {database!r}: use letters, digits and _ "
                f"(one path segment, e.g. /vstream)"
            )
        return cls(
            scheme="clickhouse",
            host=host,
            port=port if port is not None else DEFAULT_PORT,
            database=database,
            # Percent-decoding lets passwords hold ':', '@' or '/' (write them as %3A, %40, %2F).
            user=unquote(parts.username) if parts.username else DEFAULT_USER,
            password=unquote(parts.password) if parts.password else "",
        )

    @property
    def is_embedded(self) -> bool:
        """True for chDB (in-process), False for a ClickHouse server."""
        return self.scheme == "chdb"

    def __str__(self) -> str:
        if self.scheme == "chdb":
            return f"chdb://{self.path}"
        userinfo = ""
        if self.password or self.user != DEFAULT_USER:
            # percent-encoded, so a password with spaces is still one URL to the redactor
            password = ":" + quote(self.password, safe="") if self.password else ""
            userinfo = f"{quote(self.user, safe='')}{password}@"
        host = _host_for_url(self.host)
        return redact_url(f"clickhouse://{userinfo}{host}:{self.port}/{self.database}")

    def __repr__(self) -> str:
        return f"StoreURL({str(self)!r})"


def default_store_url() -> StoreURL:
    """The embedded store a user gets without configuration: ``$XDG_DATA_HOME/vstream/store``.

    Falls back to ``~/.local/share/vstream/store`` when XDG_DATA_HOME is unset or empty (the XDG
    spec says an empty or relative value must be ignored).
    """
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return StoreURL(scheme="chdb", path=str(base / "vstream" / "store"))


def _host_for_url(host: str) -> str:
    # urlsplit strips the brackets from IPv6 literals; put them back when printing.
    return f"[{host}]" if ":" in host else host
