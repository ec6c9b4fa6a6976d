"""The live-source loop without a network: a fake chunk source that drops and comes back."""

from __future__ import annotations

import threading
from fractions import Fraction

import pytest

from vstream.chunk import GopChunk, Packet
from vstream.errors import VideoOpenError
from vstream.ingest import backoff_s, ingest, is_live, live_options


def _chunks(stream_id: str, n: int) -> list[GopChunk]:
    return [GopChunk(stream_id, i, "h264", b"", 16, 16, Fraction(1, 25), Fraction(25), 2 * i,
                     (Packet(b"k", 2 * i, 2 * i, 1, True), Packet(b"p", 2 * i + 1, 2 * i + 1, 1, False)))
            for i in range(n)]


class _Sink:
    def __init__(self) -> None:
        self.sent: list[GopChunk] = []

    def send(self, chunk: GopChunk) -> None:
        self.sent.append(chunk)


def test_live_source_reopens_and_continues_numbering() -> None:
    stop = threading.Event()
    opens: list[dict] = []

    def chunks_of(source, stream_id, options):
        opens.append(options)
        if len(opens) == 2:
            raise VideoOpenError("rtsp://***@cam/s: not a readable video (Connection refused)")
        yield from _chunks(stream_id, 3)
        if len(opens) == 3:
            stop.set()
            return
        raise VideoOpenError("rtsp://***@cam/s: demuxing failed after 6 packets (timeout)")

    sink = _Sink()
    stats = ingest("rtsp://user:secret@cam/s", "cam", sink, stop=stop, chunks_of=chunks_of,
                   max_backoff_s=0.01)
    assert [c.seq for c in sink.sent] == list(range(6))
    assert [c.first_frame for c in sink.sent] == [0, 2, 4, 6, 8, 10]
    assert all(c.capture_time is not None for c in sink.sent)
    assert len(stats.gaps) == 1 and stats.gaps[0].seconds >= 0
    assert "timeout" in stats.gaps[0].reason
    assert stats.reconnects == 2 and stats.chunks == 6 and stats.frames == 12
    assert opens[0] == {"rtsp_transport": "tcp", "timeout": "10000000"}


def test_live_gap_log_hides_credentials(caplog) -> None:
    stop = threading.Event()
    calls = []

    def chunks_of(source, stream_id, options):
        calls.append(1)
        if len(calls) == 2:
            stop.set()
        raise VideoOpenError("udp://***@0.0.0.0:5000: not a readable video (timeout)")
        yield

    with caplog.at_level("INFO", logger="vstream.ingest"):
        ingest("udp://u:pw@0.0.0.0:5000", "d", _Sink(), stop=stop, chunks_of=chunks_of,
               max_backoff_s=0.01)
    assert "pw" not in caplog.text and "reopen" in caplog.text


def test_vod_open_failure_raises() -> None:
    with pytest.raises(VideoOpenError):
        ingest("/no/such/file.mp4", "x", _Sink())


def test_helpers() -> None:
    assert is_live("rtsp://cam/1") and is_live("udp://0.0.0.0:5000") and is_live("HTTP://x/y")
    assert not is_live("/data/a.mp4") and not is_live("file:///data/a.mp4")
    assert live_options("udp://x:1", 2.0) == {"rw_timeout": "2000000"}
    assert backoff_s(0, rand=lambda: 1.0) == 0.5 and backoff_s(3, rand=lambda: 1.0) == 4.0
    assert backoff_s(50, cap=30.0, rand=lambda: 1.0) == 30.0


_SERVER = """
import sys, time, av
port, clip, rounds = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
for _ in range(rounds):
    url = f"tcp://127.0.0.1:{port}?listen=1&listen_timeout=30000"
    with av.open(clip) as src, av.open(url, "w", format="mpegts") as out:
        ins = src.streams.video[0]
        outs = out.add_stream_from_template(ins)
        n = 0
        for packet in src.demux(ins):
            if packet.dts is None:
                continue
            packet.stream = outs
            out.mux(packet)
            n += 1
    print(n, flush=True)
    time.sleep(0.5)  # the hang-up: nobody listening for a moment
"""


def test_real_tcp_stream_that_drops_is_reopened_and_numbering_continues(short_video) -> None:
    """A real FFmpeg TCP (MPEG-TS) server that serves the clip, hangs up, and serves it again.

    The server is a child process: PyAV's listening open blocks other threads of this one.
    """
    import socket
    import subprocess
    import sys

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    stop = threading.Event()

    class Sink(_Sink):
        def send(self, chunk: GopChunk) -> None:
            super().send(chunk)
            if sum(c.frame_count for c in self.sent) >= 800:
                stop.set()

    server = subprocess.Popen([sys.executable, "-c", _SERVER, str(port), str(short_video), "2"],
                              stdout=subprocess.PIPE, text=True)
    watchdog = threading.Timer(60, stop.set)
    watchdog.start()
    sink = Sink()
    try:
        stats = ingest(f"tcp://127.0.0.1:{port}", "tcpcam", sink, stop=stop, stall_timeout_s=3,
                       max_backoff_s=0.2)
        served, _ = server.communicate(timeout=30)
    finally:
        watchdog.cancel()
        if server.poll() is None:
            server.kill()
            server.wait()
    assert served.split() == ["400", "400"]
    assert stats.frames == 800
    assert [c.seq for c in sink.sent] == list(range(len(sink.sent)))
    firsts = [c.first_frame for c in sink.sent]
    assert firsts == [sum(c.frame_count for c in sink.sent[:i]) for i in range(len(sink.sent))]
    assert all(c.capture_time is not None for c in sink.sent)
    assert len(stats.gaps) == 1 and stats.gaps[0].seconds > 0 and stats.reconnects >= 1
