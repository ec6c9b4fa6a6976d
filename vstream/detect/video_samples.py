"""Frames sampled from videos for distillation and its evaluation, with the train/held-out split.

The split is by time blocks, not by frame: consecutive frames are near-duplicates, so a random
frame split would evaluate on frames the student was trained on in all but name. Media time is cut
into `HOLDOUT_BLOCK_S` blocks (0-10 s, 10-20 s, ...) and every `HOLDOUT_EVERY`-th block, the
blocks with index % 5 == 4 (40-50 s, 90-100 s, ...), is held out: ~20% of the video, spread over
its whole length, never trained on. The rule depends only on a frame's time, so it is the same on
every run and every machine.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np

from vstream.detect.labels import ANALYSIS_SIZE
from vstream.errors import VideoOpenError

HOLDOUT_BLOCK_S = 10.0
HOLDOUT_EVERY = 5


def is_held_out(times: np.ndarray) -> np.ndarray:
    """(n,) media times in seconds -> (n,) bool: the frame is in a held-out block."""
    block = np.floor(np.asarray(times, np.float64) / HOLDOUT_BLOCK_S).astype(np.int64)
    return block % HOLDOUT_EVERY == HOLDOUT_EVERY - 1


@dataclass(frozen=True, eq=False)
class SampledFrames:
    """Frames of one video at a sample rate, resized to the analysis size."""

    video: pathlib.Path
    sample_fps: float
    times: np.ndarray  # (n,) float64 media seconds
    images: np.ndarray  # (n, h, w, 3) uint8 RGB at ANALYSIS_SIZE
    held_out: np.ndarray  # (n,) bool, `is_held_out(times)`

    def __len__(self) -> int:
        return len(self.times)

    def select(self, mask: np.ndarray) -> SampledFrames:
        """The frames where `mask` (n,) is True."""
        return SampledFrames(self.video, self.sample_fps, self.times[mask], self.images[mask],
                             self.held_out[mask])


def source_size(video: str | pathlib.Path) -> tuple[int, int]:
    """(width, height) of `video`'s first video stream."""
    try:
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            return int(stream.codec_context.width), int(stream.codec_context.height)
    except (av.FFmpegError, IndexError) as ex:
        raise VideoOpenError(f"cannot open video {video}: {ex}") from ex


def is_still_image(path: str | pathlib.Path) -> bool:
    """`path` is a photograph (FFmpeg reads it with an image demuxer: image2, png_pipe, ...), a
    source of one frame at time 0."""
    try:
        with av.open(str(path)) as container:
            name = container.format.name
    except av.FFmpegError as ex:
        raise VideoOpenError(f"cannot open {path}: {ex}") from ex
    return name == "image2" or name.endswith("_pipe")


def iter_samples(
    video: str | pathlib.Path,
    sample_fps: float,
    size: tuple[int, int] = ANALYSIS_SIZE,
    max_frames: int | None = None,
) -> Iterator[tuple[float, np.ndarray]]:
    """(media seconds, uint8 RGB frame at `size`) of the first frame at or after each multiple
    of 1 / `sample_fps` seconds, decoded with PyAV and resized with area interpolation (as the
    pipeline's decoder does), one at a time. `max_frames` stops early (for quick runs)."""
    if sample_fps <= 0:
        raise ValueError(f"sample_fps must be > 0, got {sample_fps}")
    width, height = size
    next_sample, taken = 0, 0
    try:
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                if frame.time is None:
                    continue
                # sample i is due at i / fps; a frame past several due samples counts once
                if frame.time * sample_fps + 1e-6 < next_sample:
                    continue
                next_sample = int(np.floor(frame.time * sample_fps + 1e-6)) + 1
                yield float(frame.time), frame.reformat(width, height, "rgb24",
                                                        interpolation="AREA").to_ndarray()
                taken += 1
                if max_frames is not None and taken >= max_frames:
                    break
    except (av.FFmpegError, IndexError) as ex:
        raise VideoOpenError(f"cannot decode video frames of {video}: {ex}") from ex


def sample_frames(
    video: str | pathlib.Path,
    sample_fps: float,
    size: tuple[int, int] = ANALYSIS_SIZE,
    max_frames: int | None = None,
) -> SampledFrames:
    """The frames of `iter_samples`, with their times and held-out flags."""
    path = pathlib.Path(video)
    width, height = size
    times: list[float] = []
    images: list[np.ndarray] = []
    for t, image in iter_samples(path, sample_fps, size, max_frames):
        times.append(t)
        images.append(image)
    t = np.asarray(times, np.float64)
    stack = np.stack(images) if images else np.zeros((0, height, width, 3), np.uint8)
    return SampledFrames(path, float(sample_fps), t, stack, is_held_out(t))
