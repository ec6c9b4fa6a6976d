"""Live sources: the reopen loop with a fake chunk source, then real FFmpeg publishers (TCP, and
UDP onto a real broker) that drop and come back."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from fractions import Fraction

import pytest

from vstream.chunk import GopChunk, Packet
from vstream.errors import VideoOpenError
from vstream.ingest.ingester import (
    GAP_REASON_CHARS, IngestStats, gap_reason, ingest, is_listener, is_live,
    live_options,
)
from vstream.kafka import ChunkProducer
from vstream.metrics import Metrics
from kafka_messages import new_topic, read_all  # tests/ is on pythonpath (pyproject)


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
    # The first chunk after the reopen carries the gap (for the worker's stream_gap event);
    # the gap spans the failed reopen's back-off, so it is longer than nothing.
    resumed = sink.sent[3]
    assert resumed.gap_s == stats.gaps[0].seconds and resumed.gap_s > 0
    assert resumed.gap_reason == stats.gaps[0].reason
    assert resumed.gap_reason == "rtsp://***@cam/s: demuxing failed after 6 packets (timeout)"
    assert [c.gap_s for c in sink.sent[:3] + sink.sent[4:]] == [None] * 5
    assert all(c.gap_reason is None for c in sink.sent[:3] + sink.sent[4:])


def test_gap_reason_is_one_short_line_without_credentials() -> None:
    reason = gap_reason("rtsp://admin:pw@cam/s: demuxing failed\n  (timeout)" + " x" * 300)
    assert reason.startswith("rtsp://***@cam/s: demuxing failed (timeout) x x")
    assert "pw" not in reason and "\n" not in reason and len(reason) == GAP_REASON_CHARS


def test_live_gap_log_hides_credentials(caplog) -> None:
    stop = threading.Event()
    calls = []

    def chunks_of(source, stream_id, options):
        calls.append(1)
        if len(calls) == 2:
            stop.set()
        raise VideoOpenError("udp://***@0.0.0.0:5000: not a readable video (timeout)")
        yield

    with caplog.at_level("INFO", logger="vstream.ingest.ingester"):
        ingest("udp://u:pw@0.0.0.0:5000", "d", _Sink(), stop=stop, chunks_of=chunks_of,
               max_backoff_s=0.01)
    assert "pw" not in caplog.text and "reopen" in caplog.text


def test_vod_open_failure_raises() -> None:
    with pytest.raises(VideoOpenError):
        ingest("/no/such/file.mp4", "x", _Sink())


def test_helpers() -> None:
    assert is_live("rtsp://cam/1") and is_live("udp://0.0.0.0:5000") and is_live("HTTP://x/y")
    assert not is_live("/data/a.mp4") and not is_live("file:///data/a.mp4")
    assert live_options("udp://x:1", 2.0) == {"timeout": "2000000"}  # udp ignores rw_timeout
    assert live_options("tcp://x:1", 2.0) == {"rw_timeout": "2000000"}
    assert is_listener("UDP://@:5000") and not is_listener("rtsp://cam/1")
    assert not is_listener("/data/udp.mp4")


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


def test_udp_listener_that_waited_reopens_at_once_and_one_that_failed_fast_backs_off() -> None:
    """While a UDP listener is closed the sender's datagrams are lost: no back-off after an
    attempt that listened (timed out), the usual back-off after one that failed at once."""
    stop = threading.Event()
    attempts: list[tuple[float, float]] = []  # monotonic start and end of each attempt

    def chunks_of(source, stream_id, options):
        started = time.monotonic()
        try:
            if len(attempts) == 7:
                stop.set()
                return
            if len(attempts) < 3:  # listened the whole stall timeout: nothing arrived
                time.sleep(0.4)
                raise VideoOpenError(f"{source}: not a readable video (Input/output error)")
            raise VideoOpenError(f"{source}: not a readable video (Address already in use)")
        finally:
            attempts.append((started, time.monotonic()))
        yield

    stats = ingest("udp://127.0.0.1:5000", "u", _Sink(), stop=stop, chunks_of=chunks_of,
                   stall_timeout_s=0.4, max_backoff_s=0.5)
    assert len(attempts) == 8 and stats.reconnects == 7
    pauses = [b[0] - a[1] for a, b in zip(attempts, attempts[1:])]
    # full jitter draws each back-off in [0, 0.5]: four summing under 0.02 s is 1 in 9 million
    assert max(pauses[:3]) < 0.1, pauses
    assert sum(pauses[3:]) > 0.02, pauses


def test_real_tcp_stream_that_drops_is_reopened_and_numbering_continues(short_video) -> None:
    """A real FFmpeg TCP (MPEG-TS) server that serves the clip, hangs up, and serves it again.

    The server is a child process: PyAV's listening open blocks other threads of this one.
    """
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


_UDP_PUBLISHER = """
import sys, time, av
port, clip = int(sys.argv[1]), sys.argv[2]
url = f"udp://127.0.0.1:{port}?pkt_size=1316"
with av.open(clip) as src, av.open(url, "w", format="mpegts") as out:
    ins = src.streams.video[0]
    outs = out.add_stream_from_template(ins)
    started, sent = None, 0
    for packet in src.demux(ins):
        if packet.dts is None:
            continue
        if started is None:
            started, first_dts = time.monotonic(), packet.dts
        # a camera's pace: each packet leaves when the clip's clock reaches it
        delay = started + float((packet.dts - first_dts) * ins.time_base) - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        packet.stream = outs
        out.mux(packet)  # rescales the packet's timestamps to the output's time base
        if not sent:
            print("first", time.time(), flush=True)
        sent += 1
"""


class _TimedSink:
    """Sends each chunk to Kafka and notes the wall clock at which ingest handed it over."""

    def __init__(self, producer: ChunkProducer) -> None:
        self.producer = producer
        self.sent: list[tuple[float, GopChunk]] = []
        self._changed = threading.Condition()

    def send(self, chunk: GopChunk) -> None:
        self.producer.send(chunk)
        with self._changed:
            self.sent.append((time.time(), chunk))
            self._changed.notify_all()

    def wait_for(self, count: int, timeout_s: float) -> bool:
        """True once `count` chunks were sent, False if `timeout_s` passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.sent) >= count, timeout_s)


def _publish(port: int, clip: str) -> tuple[subprocess.Popen, float]:
    """Start a UDP publisher of `clip`; return it and the wall clock of its first packet."""
    publisher = subprocess.Popen([sys.executable, "-c", _UDP_PUBLISHER, str(port), clip],
                                 stdout=subprocess.PIPE, text=True)
    line = publisher.stdout.readline().split()  # blocks until it sends, or "" if it died
    assert line and line[0] == "first", f"publisher exited with {publisher.wait()}"
    return publisher, float(line[1])


def _wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_udp_publisher_killed_and_restarted_is_listened_for_again_at_once(kafka_broker: str,
                                                                          short_video) -> None:
    """A real MPEG-TS-over-UDP publisher (a child process, paced in real time) is SIGKILLed
    mid-stream and started again: the stall timeout ends the dead read, ingest listens again at
    once (no back-off: it is already listening when the publisher returns), and chunks flow to
    the broker again, with the numbering continued and the gap recorded.

    A restarted publisher begins at the clip's first keyframe (frame 0), and ingest sends each
    GOP in parts of 0.2 s, so the first chunk after the return is due about 0.2 s after its
    first packet (plus the time FFmpeg takes to find the stream's parameters); how long that
    takes is printed, not asserted: it depends on the machine (every wait here is on a state).
    """
    stall_s = 2.0
    topic = new_topic(kafka_broker, "test.chunks", 4, dlq=False)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("0.0.0.0", 0))
        port = sock.getsockname()[1]
    metrics = Metrics()

    def reconnects() -> float:
        return metrics.registry.get_sample_value(
            "vstream_ingest_reconnects_total", {"stream_id": "udpcam"}) or 0.0

    stop = threading.Event()
    result: dict[str, IngestStats | BaseException] = {}

    def run() -> None:
        try:
            result["stats"] = ingest(f"udp://127.0.0.1:{port}", "udpcam", sink, stop=stop,
                                     stall_timeout_s=stall_s, metrics=metrics)
        except BaseException as ex:  # noqa: BLE001 - re-raised by the test below
            result["error"] = ex

    publishers: list[subprocess.Popen] = []
    with ChunkProducer(kafka_broker, topic) as producer:
        sink = _TimedSink(producer)
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        try:
            first, _ = _publish(port, str(short_video))
            publishers.append(first)
            assert sink.wait_for(2, timeout_s=15), "no chunks from the first publisher"
            before = reconnects()  # a start-up wait for the publisher may have counted already
            first.kill()  # SIGKILL mid-stream: no goodbye, the datagrams just stop
            first.wait()
            killed_at = time.time()
            assert _wait_until(lambda: reconnects() > before, stall_s + 30), "stall not detected"
            stalled_s = time.time() - killed_at
            # one silent listen that ends by timeout and is reopened: the camera is still away,
            # and ingest is listening for it again (a back-off would hold this count)
            assert _wait_until(lambda: reconnects() > before + 1, stall_s + 30)
            sent_before = len(sink.sent)

            second, back_at = _publish(port, str(short_video))
            publishers.append(second)
            assert sink.wait_for(sent_before + 2, timeout_s=60), "no chunks after the return"
        finally:
            stop.set()
            for publisher in publishers:
                if publisher.poll() is None:
                    publisher.kill()
                    publisher.wait()
            thread.join(timeout=stall_s + 10)  # the killed stream ends the read by timeout
    assert not thread.is_alive()
    if "error" in result:
        raise result["error"]
    stats = result["stats"]

    reconnect_s = sink.sent[sent_before][0] - back_at
    print(f"stall detected {stalled_s:.2f} s after the kill; first chunk {reconnect_s:.2f} s "
          f"after the publisher's return")
    assert reconnect_s > 0
    assert len(stats.gaps) == 1
    gap = stats.gaps[0]
    assert "demuxing failed" in gap.reason  # the timeout ended a read; the stream did not "end"
    # the gap runs from the last chunk before the loss to the first after the return, in causal
    # order (not against the kill's clock: the last chunk may come from data buffered at the kill)
    last_before, first_after = sink.sent[sent_before - 1][0], sink.sent[sent_before][0]
    assert gap.start <= last_before and back_at <= gap.start + gap.seconds <= first_after
    assert stats.reconnects >= 2 and reconnects() == stats.reconnects

    chunks = [c for _, c in sink.sent]
    assert [c.seq for c in chunks] == list(range(len(chunks)))
    assert [c.first_frame for c in chunks] == [sum(c.frame_count for c in chunks[:i])
                                               for i in range(len(chunks))]
    assert chunks[sent_before].packets[0].keyframe  # a reopen starts at a keyframe
    assert all(c.capture_time is not None and c.capture_time <= at for at, c in sink.sent)
    assert stats.chunks == len(chunks) and producer.acked == len(chunks)

    records = sorted(read_all(kafka_broker, topic, len(chunks)), key=lambda r: r.offset)
    assert [GopChunk.from_bytes(r.value).seq for r in records] == list(range(len(chunks)))
    assert {r.key for r in records} == {b"udpcam"}
