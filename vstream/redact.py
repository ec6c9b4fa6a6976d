"""The one credential redactor: for logs, error messages, stored rows and metric labels alike.

    from vstream.redact import redact_url
    redact_url("rtsp://admin:pw@cam1:554/live?token=abc")   # 'rtsp://***@cam1:554/live?token=***'
    redact_url("/videos/talk.mp4")                          # unchanged

Output shape: a URL's whole userinfo becomes ``***@`` (that a user was given stays visible, the
user name does not: a lone ``token@host`` userinfo is a secret too), and the value of every
secret-looking query or fragment parameter becomes ``***``. Everything else is kept.

It takes any text, not only a URL, so a whole log line (an FFmpeg error naming the URL) can go
through it. Errs on the side of hiding: when the end of the userinfo is ambiguous, more is hidden
rather than less.
"""

from __future__ import annotations

import re

HIDDEN = "***"

# Any scheme (RFC 3986 letters), not a fixed list: a mysql:// or ftp:// URL in a message must
# not leak either.
_SCHEME = re.compile(r"(?<![A-Za-z0-9+.\-])[A-Za-z][A-Za-z0-9+.\-]*://")
_TOKEN = re.compile(r"\S+")
# key=value in a query, a fragment (OAuth puts access_token there) or a ;param of the path.
_PARAM = re.compile(r"([?&;#])([^=&;#?\s]+)=([^&;#\s'\"<>]*)")

_SECRET_KEYS = frozenset({
    "token", "access_token", "password", "passwd", "pwd", "pass", "passphrase", "key",
    "api_key", "apikey", "secret", "signature", "sig", "auth", "authorization",
    "credential", "credentials",
})
# refresh_token, client_secret, stream_key, x-amz-signature, x-amz-credential,
# x-amz-security-token, x-goog-signature ... (compared with '-' read as '_').
_SECRET_SUFFIXES = ("_token", "_secret", "_key", "_password", "_signature", "_credential", "_sig")

# Characters that may open a quoted or bracketed URL-less "user:pass@host" in a message.
_OPENERS = "'\"([<{"


def redact_url(text: str) -> str:
    """`text` with credentials hidden in every URL it contains; never raises.

    ``rtsp://u:p@ss@[::1]:554/x?token=t&q=1`` becomes ``rtsp://***@[::1]:554/x?token=***&q=1``.
    A URL ends at whitespace. Its userinfo is everything between ``://`` and the last ``@``
    before the query (FFmpeg splits at the last ``@`` too), so ``@``, ``:``, ``/`` or ``%40``
    inside a password stay hidden. Plain paths, text without URLs and already redacted text come
    back unchanged. A scheme-less ``user:pass@host`` (a forgotten ``clickhouse://``) is hidden too.
    """
    if not isinstance(text, str):
        text = str(text)
    return _TOKEN.sub(lambda match: _redact_token(match.group()), text)


def _redact_token(token: str) -> str:
    found = _SCHEME.search(token)
    if found:
        return token[: found.end()] + _redact_after_scheme(token[found.end():])
    return _redact_schemeless(token)


def _redact_after_scheme(rest: str) -> str:
    # "scheme:///path" has no authority, so no userinfo (file:///a:b@c.mp4 is a path).
    at = -1 if rest.startswith("/") else _userinfo_end(rest)
    tail = _PARAM.sub(_hide_secret_param, rest[at + 1:])
    nested = _SCHEME.search(tail)  # ?next=http://u:p@other/
    if nested:
        tail = tail[: nested.end()] + _redact_after_scheme(tail[nested.end():])
    return (HIDDEN + "@" if at >= 0 else "") + tail


def _userinfo_end(rest: str) -> int:
    """Index of the '@' that ends the userinfo in `rest` (the URL after ``://``), or -1.

    The last '@' before the query or fragment; when there is none there, the last '@' before
    the first '/' (a '?' or '#' inside the password). An '@' later in the path is taken as the
    end of the userinfo too: hiding too much is the safe mistake.
    """
    at = rest.rfind("@", 0, _first_of(rest, "?#"))
    return at if at >= 0 else rest.rfind("@", 0, _first_of(rest, "/"))


def _first_of(text: str, chars: str) -> int:
    return min((i for i in (text.find(c) for c in chars) if i >= 0), default=len(text))


def _redact_schemeless(token: str) -> str:
    """``user:pass@host/...`` with the scheme forgotten; paths (``/a:b@c``, ``./x``) are kept."""
    opened = len(token) - len(token.lstrip(_OPENERS))
    body = token[opened:]
    colon = body.find(":")
    if colon <= 0 or "/" in body[:colon] or body[0] in "./~":
        return token
    at = _userinfo_end(body)
    if at < colon:
        return token
    return token[:opened] + HIDDEN + "@" + _PARAM.sub(_hide_secret_param, body[at + 1:])


def _hide_secret_param(match: re.Match[str]) -> str:
    separator, key, value = match.groups()
    return f"{separator}{key}={HIDDEN if value and _is_secret(key) else value}"


def _is_secret(key: str) -> bool:
    name = key.lower().replace("-", "_")
    return name in _SECRET_KEYS or name.endswith(_SECRET_SUFFIXES)
