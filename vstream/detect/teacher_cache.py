"""The teacher's detections on sampled frames, computed once and cached on disk as npz.

The teachers (MTCNN, SSDLite, SFace) cost far more than a training epoch of the student, and
distillation and evaluation ask for the same frames again and again: the cache is keyed by the
video (absolute path, size, mtime), the sample rate and frame limit, the analysis size and the
teacher's model_version, so any change in these recomputes it and nothing stale is reused.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import pathlib
import time

import numpy as np

from vstream.detect.analysis import EMBED_DIM, FrameModel
from vstream.detect.video_samples import SampledFrames, iter_samples, source_size
from vstream.detections import Detections

log = logging.getLogger(__name__)

#: frames per teacher call: the teachers batch their networks
_TEACHER_BATCH = 16


def default_cache_dir() -> pathlib.Path:
    """`$XDG_CACHE_HOME/vstream/distill` (~/.cache/vstream/distill): teacher outputs and backbone
    features of sampled frames."""
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "vstream" / "distill"


def teacher_size(frames: SampledFrames, teacher: FrameModel) -> tuple[int, int]:
    """(width, height) the teacher analyses `frames`' video at: its own `frame_size` of the
    source, as `vstream index` gives it frames (a 768x576 camera stays 768x576, so the people
    detector tiles it), not the student's squeezed analysis size."""
    return teacher.frame_size(*source_size(frames.video))


def cache_key(frames: SampledFrames, teacher: FrameModel, max_frames: int | None) -> str:
    """Hex key of what the teacher's outputs on `frames` depend on."""
    stat = frames.video.stat()
    parts = {
        "video": str(frames.video.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns,
        "sample_fps": frames.sample_fps, "max_frames": max_frames,
        "size": list(frames.images.shape[1:3]), "teacher": teacher.model_version,
        "teacher_size": list(teacher_size(frames, teacher)),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def teacher_detections(
    frames: SampledFrames,
    teacher: FrameModel,
    cache_dir: pathlib.Path | None = None,
    max_frames: int | None = None,
) -> list[Detections]:
    """The teacher's detections (boxes, confidence, class_id, embedding) for every frame of
    `frames`, in `frames`' pixels, from the cache when there, else computed and cached. The
    teacher sees each frame decoded again at `teacher_size` (streamed, a batch at a time) and its
    boxes are scaled to `frames`' size. `max_frames` must be what `frames` was sampled with (it
    is part of the key)."""
    cache_dir = default_cache_dir() if cache_dir is None else pathlib.Path(cache_dir)
    path = cache_dir / f"{frames.video.stem}-{cache_key(frames, teacher, max_frames)}.npz"
    if path.is_file():
        with np.load(path) as z:
            if np.array_equal(z["times"], frames.times):
                return _unpack(z)
        log.warning("teacher cache %s does not match the sampled frames; recomputing", path)
    start = time.perf_counter()
    size = teacher_size(frames, teacher)
    height, width = frames.images.shape[1:3]
    to_frames = np.array([width, height, width, height], np.float32) / np.array(size * 2, np.float32)
    samples = iter_samples(frames.video, frames.sample_fps, size, len(frames))
    result: list[Detections] = []
    for i in range(0, len(frames), _TEACHER_BATCH):
        times, images = zip(*itertools.islice(samples, _TEACHER_BATCH))
        if not np.array_equal(times, frames.times[i:i + len(times)]):
            raise ValueError(f"{frames.video}: decoding again gave other frame times")
        for a in teacher.analyze(np.stack(images)):
            d = a.detections
            result.append(Detections(d.xyxy * to_frames, d.confidence, d.class_id,
                                     embedding=d.embedding))
        if (i // _TEACHER_BATCH) % 10 == 0:
            log.info("teacher %s: %d/%d frames of %s at %dx%d (%.0f s)", teacher.model_version,
                     min(i + _TEACHER_BATCH, len(frames)), len(frames), frames.video.name,
                     *size, time.perf_counter() - start)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, times=frames.times, **_pack(result))
    tmp.replace(path)  # atomic: a killed run never leaves a half-written cache behind
    return result


def _pack(dets: list[Detections]) -> dict[str, np.ndarray]:
    def emb(d: Detections) -> np.ndarray:
        return d.embedding if d.embedding is not None else np.zeros((len(d), EMBED_DIM), np.float32)

    return {
        "counts": np.array([len(d) for d in dets], np.int64),
        "xyxy": np.concatenate([d.xyxy for d in dets]) if dets else np.zeros((0, 4), np.float32),
        "confidence": np.concatenate([d.confidence for d in dets]) if dets else np.zeros(0, np.float32),
        "class_id": np.concatenate([d.class_id for d in dets]) if dets else np.zeros(0, np.int32),
        "embedding": np.concatenate([emb(d) for d in dets]) if dets else np.zeros((0, EMBED_DIM), np.float32),
    }


def _unpack(z: np.lib.npyio.NpzFile) -> list[Detections]:
    ends = np.cumsum(z["counts"])
    starts = ends - z["counts"]
    xyxy, conf, cls, emb = z["xyxy"], z["confidence"], z["class_id"], z["embedding"]
    return [Detections(xyxy[a:b], conf[a:b], cls[a:b], embedding=emb[a:b]) for a, b in zip(starts, ends)]
