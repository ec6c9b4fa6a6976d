"""What each `vstream` command does, once its arguments are parsed (`vstream.cli.parser`).

Commands import what they run inside their own function: `vstream --help` and the shots-only
path never pay for torch, faust or the evaluation code (tests/test_startup.py, test_layers.py).
"""

from __future__ import annotations

import argparse
import io
import logging
import signal
import sys
from pathlib import Path

from vstream.config import Settings, is_configured, load_settings
from vstream.errors import VStreamError
from vstream.cli.parser import EXIT_PARTIAL

log = logging.getLogger("vstream")


def _serve_metrics(port: int):
    """A `Metrics` for this process, served on `port` (not served when 0); logs its URL."""
    from vstream.metrics import Metrics

    metrics = Metrics()
    if port:
        log.warning("metrics at %s", metrics.serve(port))
    return metrics


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings({
        "store": getattr(args, "store", None),
        "shots": getattr(args, "shots", None),
        "threads": getattr(args, "threads", None),
        "model": getattr(args, "model", None),
        "precision": getattr(args, "precision", None),
        "analysis_fps": getattr(args, "analysis_fps", None),
        "leave_after_s": getattr(args, "leave_after_s", None),
        "leave_hidden_s": getattr(args, "leave_hidden_s", None),
        "max_scene_s": getattr(args, "max_scene_s", None),
    })


def cmd_demo(args: argparse.Namespace) -> int:
    from vstream.weights import test_video_path

    args.paths = [str(test_video_path())]
    args.stream_id, args.threads, args.no_progress, args.quiet = "sample", None, False, False
    return cmd_index(args)


def cmd_index(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from vstream.drivers.index import index_video, stream_id_for
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
                                     checkpoint=args.checkpoint, precision=settings.precision,
                                     analysis_fps=settings.analysis_fps,
                                     leave_after_s=settings.leave_after_s,
                                     leave_hidden_s=settings.leave_hidden_s,
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
    from vstream.cli.sql_command import write_blocks

    buf = io.StringIO()
    write_blocks(fmt, columns, iter([rows]), buf)
    return buf.getvalue().rstrip("\n")


def cmd_sql(args: argparse.Namespace) -> int:
    from vstream.cli.sql_command import exit_now, run_sql
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


def cmd_events(args: argparse.Namespace) -> int:
    from vstream.cli.events_command import follow, stored_messages, write_messages

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
    from vstream.ingest.chunker import open_video
    from vstream.ingest.ingester import ingest, is_live
    from vstream.redact import redact_url
    from vstream.kafka import ChunkProducer, dlq_topic, ensure_topics

    if args.verbose < 2:  # kafka-python logs every refused connect; our errors say what matters
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    settings = load_settings({"kafka": args.kafka, "topic": args.topic,
                              "metrics_port": args.metrics_port, "part_s": args.part_s})
    if not is_live(args.source):  # a bad file fails before any broker is contacted
        container, _ = open_video(args.source)
        container.close()
    ensure_topics(settings.kafka, [settings.topic, dlq_topic(settings.topic)])
    metrics = _serve_metrics(settings.metrics_port)
    try:
        with ChunkProducer(settings.kafka, settings.topic, metrics=metrics) as producer:
            stats = ingest(args.source, args.stream_id, producer, realtime=args.realtime,
                           part_s=settings.part_s or None, metrics=metrics)
    finally:
        metrics.close()
    print(f"{redact_url(args.source)}: stream {args.stream_id!r} -> {settings.topic} at "
          f"{settings.kafka}: {stats.summary()}")
    return 0


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
                              "model": args.model, "precision": args.precision,
                              "analysis_fps": args.analysis_fps,
                              "leave_after_s": args.leave_after_s,
                              "leave_hidden_s": args.leave_hidden_s,
                              "max_scene_s": args.max_scene_s,
                              "events_topic": args.events_topic,
                              "people_topic": args.people_topic})
    ensure_topics(settings.kafka, [settings.topic, dlq_topic(settings.topic)])
    metrics = _serve_metrics(settings.metrics_port)
    stop = threading.Event()

    stopped_by: list[int] = []

    def on_stop(signum, frame):  # first Ctrl-C or SIGTERM: stop after this batch; Ctrl-C again: now
        log.warning("%s: committing what was written, then stopping",
                    "terminated" if signum == signal.SIGTERM else "interrupted")
        stopped_by.append(signum)
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = {signum: signal.signal(signum, on_stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    store = open_store(settings.store)
    try:
        worker = ChunkWorker(settings.kafka, settings.topic, store, group=args.group,
                             shots=settings.shots, model=settings.model,
                             checkpoint=args.checkpoint, precision=settings.precision,
                             analysis_fps=settings.analysis_fps, leave_after_s=settings.leave_after_s,
                             leave_hidden_s=settings.leave_hidden_s,
                             max_scene_s=settings.max_scene_s, metrics=metrics,
                             events_topic=settings.events_topic,
                             people_topic=settings.people_topic)
        log.warning("worker: group %s on %s at %s, rows to %s", args.group, settings.topic,
                    settings.kafka, store.url)
        stats = worker.run(stop_event=stop, max_idle_s=args.idle_exit,
                           until_caught_up=args.exit_when_caught_up)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        store.close()
        metrics.close()
    print(f"worker {args.group} on {settings.topic}: {stats.summary()}")
    if not stopped_by:
        return 0
    return 143 if stopped_by[0] == signal.SIGTERM else 130


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
                         seed=args.seed, max_frames=args.max_frames, still_repeats=args.still_repeats,
                         tuned_from=args.tune_from, start_from=args.start_from, lr=args.lr,
                         retrain=args.retrain or ())
        print(f"{args.out}: {result.model_version}, loss {result.loss_before:.3f} -> "
              f"{result.loss_after:.3f} in {result.seconds:.0f} s")
        return 0
    from vstream.detect.checkpoint import load_unified
    from vstream.detect.teachers.selfie_segmentation import SelfieSegmenter
    from vstream.eval.detection import evaluate

    model = load_unified(args.checkpoint, precision=args.precision)
    labels = None
    if args.people_labels:
        from vstream.eval.point_people import PointPeople

        if len(videos) != 1:
            raise VStreamError("--people-labels scores one video: give exactly one VIDEO")
        labels = PointPeople.load(args.people_labels)  # before minutes of work
    frames = "frames (videos never trained on)" if args.unseen else "held-out frames"
    # per video, then all together when there are several
    for group in [[v] for v in videos] + ([videos] if len(videos) > 1 else []):
        ev = evaluate(model, group, teacher, sample_fps=args.sample_fps,
                      max_frames=args.max_frames, unseen=args.unseen, segmenter=SelfieSegmenter())
        name = Path(group[0]).name if len(group) == 1 else "all videos"
        print(f"{name}: {model.model_version} on {ev.frames} {frames}, against the teachers:")
        print(f"  faces   recall {ev.face.recall:.3f}  precision {ev.face.precision:.3f}  "
              f"({ev.face.teacher} teacher faces)")
        print(f"  persons recall {ev.person.recall:.3f}  precision {ev.person.precision:.3f}  "
              f"({ev.person.teacher} teacher persons)")
        print(f"  face embedding cosine to the teacher's (SFace) {ev.face_cosine:.3f} (a constant vector: "
              f"{ev.face_cosine_constant:.3f}); pair correlation {ev.face_pair_correlation:.3f}")
        if ev.mask is not None:
            print(f"  person mask IoU {ev.mask.iou:.3f} against MediaPipe's selfie segmentation "
                  f"(person pixels: model {ev.mask.model_share:.3f}, teacher {ev.mask.teacher_share:.3f})")
        print(f"  {ev.fps:.0f} frames/s")
    if labels is not None:
        from vstream.eval.point_people import evaluate_point_people

        print(f"people marked by hand ({Path(args.people_labels).name}):")
        for name, m in ((model.model_version, model), ("teachers", teacher)):
            print(f"  {name}: {evaluate_point_people(m, videos[0], labels)}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from vstream.bench.runner import run_bench

    settings = _settings(args)
    return run_bench(args.what, video=args.video, work_dir=args.work_dir, markdown=args.markdown,
                     soak_minutes=args.minutes, kafka_realtime_s=args.realtime_seconds,
                     model=settings.model, analysis_fps=settings.analysis_fps)


COMMANDS = {"demo": cmd_demo, "index": cmd_index, "sql": cmd_sql, "scenes": cmd_scenes,
            "events": cmd_events, "streams": cmd_streams, "bench": cmd_bench, "train": cmd_train,
            "ingest": cmd_ingest, "worker": cmd_worker}
