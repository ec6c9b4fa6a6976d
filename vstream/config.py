"""Settings in one place: CLI flags override VSTREAM_* environment variables override a TOML file.

The TOML file is `$VSTREAM_CONFIG` if set, else `./vstream.toml` if present, with top-level keys
named like the settings below (`store = "chdb:///data/vstream"`, `shots = "fast"`).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from vstream.chunk import DEFAULT_PART_S
from vstream.errors import VStreamError

SHOT_DETECTORS = ("combined", "fast", "neural")
#: frame models (`vstream.detect.models.MODEL_CHOICES`; repeated so reading settings imports no torch)
MODELS = ("unified", "teachers", "none")
#: how the unified network runs on a CPU (`vstream.detect.checkpoint.load_unified`)
PRECISIONS = ("auto", "fp32", "int8")
#: `vstream sql --timeout` default: long enough for an export of tens of millions of rows,
#: short enough that a forgotten runaway query ends (the engine stops it: max_execution_time).
DEFAULT_QUERY_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Settings:
    #: store URL: chdb:///dir (embedded, default) or clickhouse://user:pass@host:9000/db
    store: str | None = None
    #: shot detector: combined (default), fast or neural
    shots: str = "combined"
    #: FFmpeg decoder threads (0: FFmpeg picks)
    threads: int = 0
    #: frame model: unified (default: the distilled network), teachers (MTCNN + SSDLite + SFace,
    #: what it is distilled from, ~7x slower; docs/models.md), or none (shots only)
    model: str = "unified"
    #: how the unified network runs on a CPU: auto (fp32; fp16 on a GPU), fp32, or int8 (its
    #: dense graph quantised: 1.3x faster whole process on CPUs with VNNI, a little less
    #: accurate; docs/models.md "int8 on CPUs with VNNI")
    precision: str = "auto"
    #: frames per second the frame model analyses (shots always see every frame)
    analysis_fps: float = 5.0
    #: media seconds a person must be unseen before their `leave` event (vstream.track.presence)
    leave_after_s: float = 1.0
    #: ... for a person last seen inside the picture, not at its edge (hidden, or missed)
    leave_hidden_s: float = 1.0
    #: longest scene in seconds (0: none): a scene that does not cut is cut there
    max_scene_s: float = 60.0
    #: Kafka bootstrap address (HOST:PORT[,HOST:PORT...]) for ingest and workers
    kafka: str = "127.0.0.1:9092"
    #: Kafka topic the GOP chunks travel on
    topic: str = "vstream.chunks"
    #: ingest of live sources and --realtime files: send each GOP in parts of this many seconds
    #: of video, so a frame reaches the worker that much after its capture, not a GOP after
    #: (0: whole GOPs). Files sent at full speed always go as whole GOPs.
    part_s: float = DEFAULT_PART_S
    #: Kafka topic the worker publishes stored events and scenes to, as JSON ("": not published)
    events_topic: str = "vstream.events"
    #: Kafka topic of the people registry all workers share (one partition, kept for ever)
    people_topic: str = "vstream.people"
    #: port for Prometheus /metrics of ingest and worker (0: not served)
    metrics_port: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.metrics_port < 65536:
            raise VStreamError(f"metrics_port must be 0 (off) or a port 1..65535, got {self.metrics_port}")
        if self.model not in MODELS:
            raise VStreamError(f"unknown model {self.model!r}: choose one of {', '.join(MODELS)}")
        if self.precision not in PRECISIONS:
            raise VStreamError(f"unknown precision {self.precision!r}: choose one of {', '.join(PRECISIONS)}")
        if not 0 < self.analysis_fps <= 1000:
            raise VStreamError(f"analysis_fps must be > 0, got {self.analysis_fps}")
        if not 0 <= self.leave_after_s <= 3600:
            raise VStreamError(f"leave_after_s must be 0..3600 seconds, got {self.leave_after_s}")
        if not 0 <= self.part_s <= 60:
            raise VStreamError(f"part_s must be 0 (whole GOPs) to 60 seconds, got {self.part_s}")
        if not 0 <= self.leave_hidden_s <= 3600:
            raise VStreamError(f"leave_hidden_s must be 0..3600 seconds, got {self.leave_hidden_s}")
        if not 0 <= self.max_scene_s <= 86400:
            raise VStreamError(f"max_scene_s must be 0 (none) to 86400 seconds, got {self.max_scene_s}")
        if self.shots not in SHOT_DETECTORS:
            raise VStreamError(f"unknown shot detector {self.shots!r}: choose one of {', '.join(SHOT_DETECTORS)}")


def _coerce(name: str, value: Any) -> Any:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    if "float" in str(kind):
        try:
            return float(value)
        except (TypeError, ValueError) as ex:
            raise VStreamError(f"setting {name} must be a number, got {value!r}") from ex
    if "int" in str(kind):
        try:
            return int(value)
        except (TypeError, ValueError) as ex:
            raise VStreamError(f"setting {name} must be an integer, got {value!r}") from ex
    return str(value)


def load_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """Settings from the TOML file, then VSTREAM_* variables, then `overrides` (CLI flags)."""
    values: dict[str, Any] = {}
    names = {f.name for f in fields(Settings)}
    path = Path(os.environ.get("VSTREAM_CONFIG", "vstream.toml"))
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as ex:
            raise VStreamError(f"{path}: not a valid TOML config ({ex})") from ex
        unknown = set(data) - names
        if unknown:
            raise VStreamError(f"{path}: unknown settings {sorted(unknown)}; known: {sorted(names)}")
        values.update({k: _coerce(k, v) for k, v in data.items()})
    elif "VSTREAM_CONFIG" in os.environ:
        raise VStreamError(f"VSTREAM_CONFIG points to {path}, which does not exist")
    for name in names:
        env = os.environ.get(f"VSTREAM_{name.upper()}")
        if env is not None:
            values[name] = _coerce(name, env)
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = value
    return replace(Settings(), **values)


def is_configured(name: str, overrides: dict[str, Any] | None = None) -> bool:
    """True when setting `name` is given by a flag in `overrides`, a VSTREAM_* variable or the
    TOML file, rather than left at its default (e.g. `vstream streams` asks Kafka only then)."""
    if (overrides or {}).get(name) is not None or f"VSTREAM_{name.upper()}" in os.environ:
        return True
    path = Path(os.environ.get("VSTREAM_CONFIG", "vstream.toml"))
    try:
        return path.is_file() and name in tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as ex:
        raise VStreamError(f"{path}: not a valid TOML config ({ex})") from ex
