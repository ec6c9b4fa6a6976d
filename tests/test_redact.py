"""The one credential redactor (`vstream.redact.redact_url`): what it hides, what it keeps."""

from __future__ import annotations

import pytest

from vstream.redact import redact_url

# (text, redacted, the secret that must not show; None where there is no secret)
CASES = [
    # userinfo: everything up to the last '@' before the query, whatever the password holds
    ("rtsp://admin:hunter2@cam1:554/live", "rtsp://***@cam1:554/live", "hunter2"),
    ("rtsp://admin@cam1/live", "rtsp://***@cam1/live", "admin"),
    ("https://ghp_t0ken@host/v.mp4", "https://***@host/v.mp4", "ghp_t0ken"),
    ("http://user:p@ss@host/x.mp4", "http://***@host/x.mp4", "p@ss"),
    ("http://user:p%40ss@host/x.mp4", "http://***@host/x.mp4", "p%40ss"),
    ("rtsp://u:pa:ss@cam/live", "rtsp://***@cam/live", "pa:ss"),
    ("rtsp://u:pa/ss@cam/live", "rtsp://***@cam/live", "pa/ss"),
    ("rtsp://u:pa?ss@cam/live", "rtsp://***@cam/live", "pa?ss"),
    ("rtsp://u:pa#ss@cam/live", "rtsp://***@cam/live", "pa#ss"),
    ("rtsp://mail@example.com:pw1@cam/live", "rtsp://***@cam/live", "pw1"),
    ("rtsp://u:a@b/c@cam:554/live", "rtsp://***@cam:554/live", "a@b/c"),
    ("RTSP://u:hunter2@cam/live", "RTSP://***@cam/live", "hunter2"),
    # every scheme vstream reads or stores, and ones it does not know
    ("rtsps://u:hunter2@cam:322/s", "rtsps://***@cam:322/s", "hunter2"),
    ("rtmp://u:hunter2@live.example/app/s", "rtmp://***@live.example/app/s", "hunter2"),
    ("https://u:hunter2@cdn.example/v.mp4", "https://***@cdn.example/v.mp4", "hunter2"),
    ("udp://u:hunter2@239.0.0.1:5000", "udp://***@239.0.0.1:5000", "hunter2"),
    ("tcp://u:hunter2@10.0.0.7:9000?listen=1", "tcp://***@10.0.0.7:9000?listen=1", "hunter2"),
    ("clickhouse://u:hunter2@db:9000/vstream", "clickhouse://***@db:9000/vstream", "hunter2"),
    ("chdb://u:hunter2@data/store", "chdb://***@data/store", "hunter2"),
    ("mysql://u:hunter2@db/x", "mysql://***@db/x", "hunter2"),
    # IPv6 hosts keep their brackets and port
    ("rtsp://u:hunter2@[::1]:554/x", "rtsp://***@[::1]:554/x", "hunter2"),
    ("rtsp://u:hun@ter2@[fe80::1%25eth0]/x", "rtsp://***@[fe80::1%25eth0]/x", "ter2"),
    ("rtsp://[::1]:554/x", "rtsp://[::1]:554/x", None),
    # secrets in the query (any case), the fragment and ;params; other parameters kept
    ("https://h/v.mp4?token=t0k&q=1", "https://h/v.mp4?token=***&q=1", "t0k"),
    ("https://h/v?Access_Token=t0k", "https://h/v?Access_Token=***", "t0k"),
    ("https://h/v?q=1&password=zq1&pwd=zq2&passwd=zq3",
     "https://h/v?q=1&password=***&pwd=***&passwd=***", "zq"),
    ("https://h/v?key=zq1&api_key=zq2&apikey=zq3&secret=zq4",
     "https://h/v?key=***&api_key=***&apikey=***&secret=***", "zq"),
    ("https://h/v?signature=zq1&sig=zq2&auth=zq3&credential=zq4&credentials=zq5",
     "https://h/v?signature=***&sig=***&auth=***&credential=***&credentials=***", "zq"),
    ("https://b.s3.amazonaws.com/v.mp4?X-Amz-Credential=zqAKIA%2F2024&X-Amz-Signature=zq123"
     "&X-Amz-Security-Token=zq456&X-Amz-Expires=60",
     "https://b.s3.amazonaws.com/v.mp4?X-Amz-Credential=***&X-Amz-Signature=***"
     "&X-Amz-Security-Token=***&X-Amz-Expires=60", "zq"),
    ("https://h/cb#access_token=t0k&state=1", "https://h/cb#access_token=***&state=1", "t0k"),
    ("https://h/v;token=t0k", "https://h/v;token=***", "t0k"),
    ("https://h/v?password=zq?zq&q=1", "https://h/v?password=***&q=1", "zq"),  # '?' in a value
    ("https://h/v?client_secret=zq1&refresh_token=zq2",
     "https://h/v?client_secret=***&refresh_token=***", "zq"),
    ("https://h/v?token=&q=1", "https://h/v?token=&q=1", None),
    ("https://u:hunter2@h/v?sig=s3cr3t", "https://***@h/v?sig=***", "s3cr3t"),
    # srt carries its passphrase in the query
    ("srt://cam:9000?mode=caller&passphrase=longpassphrase&latency=200",
     "srt://cam:9000?mode=caller&passphrase=***&latency=200", "longpassphrase"),
    ("srt://u:hunter2@:9000?passphrase=longpassphrase", "srt://***@:9000?passphrase=***",
     "longpassphrase"),
    # a URL inside a message (a whole FFmpeg log line), and several in one line
    ("[rtsp @ 0x55d5] Connection to rtsp://u:hunter2@10.0.0.7:554/s failed: Connection refused",
     "[rtsp @ 0x55d5] Connection to rtsp://***@10.0.0.7:554/s failed: Connection refused",
     "hunter2"),
    ("udp://u:hunter2@0.0.0.0:5000: not a readable video (timeout)",
     "udp://***@0.0.0.0:5000: not a readable video (timeout)", "hunter2"),
    ("store URL 'clickhouse://u:hunter2@db/x' has a bad port",
     "store URL 'clickhouse://***@db/x' has a bad port", "hunter2"),
    ("a rtsp://u:zq1@cam1/s and (http://v:zq2@cam2/t)",
     "a rtsp://***@cam1/s and (http://***@cam2/t)", "zq"),
    ("source=rtsp://u:hunter2@cam/s", "source=rtsp://***@cam/s", "hunter2"),
    ("https://h/r?next=http://u:hunter2@other/x", "https://h/r?next=http://***@other/x", "hunter2"),
    # a scheme-less "user:pass@host" (a forgotten clickhouse://) is still hidden
    ("u:hunter2@host/db", "***@host/db", "hunter2"),
    ("'u:hunter2@host/db'", "'***@host/db'", "hunter2"),
    # plain paths, text without a URL and already redacted text are unchanged
    ("/videos/a:b@c.mp4", "/videos/a:b@c.mp4", None),
    ("./clips/a:b@c.mp4", "./clips/a:b@c.mp4", None),
    ("tests/test.mp4", "tests/test.mp4", None),
    ("file:///videos/a:b@c.mp4", "file:///videos/a:b@c.mp4", None),
    ("chdb:///var/lib/vstream", "chdb:///var/lib/vstream", None),
    ("rtsp://cam1:554/live?ch=1", "rtsp://cam1:554/live?ch=1", None),
    ("demuxing failed (timeout)", "demuxing failed (timeout)", None),
    ("mail admin@example.com at 10:30", "mail admin@example.com at 10:30", None),
    ("rtsp://***@cam/s: demuxing failed", "rtsp://***@cam/s: demuxing failed", None),
    ("  two  spaces\tand a tab\n", "  two  spaces\tand a tab\n", None),
    # odd input: never raises
    ("", "", None),
    ("://", "://", None),
    ("rtsp://", "rtsp://", None),
    ("rtsp://@", "rtsp://***@", None),
    ("http://[::1", "http://[::1", None),
    ("?token=&&==#", "?token=&&==#", None),
]


@pytest.mark.parametrize(("text", "redacted", "secret"), CASES, ids=[c[0][:60] for c in CASES])
def test_redacts(text: str, redacted: str, secret: str | None) -> None:
    assert redact_url(text) == redacted


@pytest.mark.parametrize(
    ("text", "secret"),
    [(text, secret) for text, _, secret in CASES if secret],
    ids=[c[0][:60] for c in CASES if c[2]],
)
def test_the_secret_never_shows(text: str, secret: str) -> None:
    shown = redact_url(text)
    assert secret not in shown
    assert redact_url(shown) == shown  # a log line holding a redacted URL stays the same


@pytest.mark.parametrize("value", [None, 5, b"rtsp://u:hunter2@cam/s", "\x00@:/?#"])
def test_odd_input_never_raises(value: object) -> None:
    assert isinstance(redact_url(value), str)  # type: ignore[arg-type]
    assert "hunter2" not in redact_url(value)  # type: ignore[arg-type]
