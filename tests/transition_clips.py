"""Build test clips with known shot transitions from stretches of real footage.

Plain functions over (n, H, W, 3) uint8 RGB arrays, so tests and benchmarks can assemble clips
from any decoded video. Each join returns the new frames and the ground-truth transition:
`Transition(frame, kind, start, end)` where `frame` is the first frame of the new shot (for a
dissolve its midpoint) and [start, end) the frames that belong to neither shot alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Transition:
    """Ground truth: a new shot starts at `frame`; frames [start, end) are transitional."""

    frame: int
    kind: str  # "cut" | "gradual"
    start: int
    end: int


def _blend(a: np.ndarray, b: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """(1 - alpha) * a + alpha * b per frame, rounded back to uint8."""
    w = alpha.reshape(-1, 1, 1, 1)
    out = (1.0 - w) * a.astype(np.float64) + w * b.astype(np.float64)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def join_cut(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Transition]:
    """`a` then `b` with a hard cut: the new shot starts at len(a)."""
    n = len(a)
    return np.concatenate([a, b]), Transition(n, "cut", n, n)


def join_dissolve(a: np.ndarray, b: np.ndarray, length: int) -> tuple[np.ndarray, Transition]:
    """Cross-dissolve over `length` frames: the last `length` frames of `a` blend into the first
    `length` frames of `b` (alpha = (i+1)/(length+1)). The boundary is the dissolve's midpoint."""
    if not 1 <= length <= min(len(a), len(b)):
        raise ValueError(f"length must be in 1..{min(len(a), len(b))}, got {length}")
    alpha = np.arange(1, length + 1) / (length + 1)
    mid = _blend(a[len(a) - length :], b[:length], alpha)
    start = len(a) - length
    frames = np.concatenate([a[:start], mid, b[length:]])
    return frames, Transition(start + length // 2, "gradual", start, start + length)


def join_fade(
    a: np.ndarray,
    b: np.ndarray,
    out_len: int,
    in_len: int,
    hold: int = 0,
    level: int = 0,
) -> tuple[np.ndarray, Transition]:
    """Fade the end of `a` to a flat `level` (0 black, 255 white) over `out_len` frames, hold
    `hold` flat frames, fade into `b` over `in_len` frames. One boundary: the first frame of the
    fade-in (the first frame showing the new shot)."""
    flat_a = np.full_like(a[:1], level)
    a_out = _blend(a[len(a) - out_len :], np.repeat(flat_a, out_len, 0), np.arange(1, out_len + 1) / out_len)
    b_in = _blend(np.repeat(flat_a, in_len, 0), b[:in_len], np.arange(1, in_len + 1) / (in_len + 1))
    start = len(a) - out_len
    frames = np.concatenate([a[:start], a_out, np.repeat(flat_a, hold, 0), b_in, b[in_len:]])
    first_new = start + out_len + hold
    return frames, Transition(first_new, "gradual", start, first_new + in_len)


def add_flash(frames: np.ndarray, at: int, length: int = 2, gain: float = 2.5, lift: int = 90) -> np.ndarray:
    """A copy of `frames` with frames [at, at+length) flashed: scaled by `gain` and lifted by `lift`
    (a photographer's flash or a strobe), then clipped."""
    out = frames.copy()
    f = out[at : at + length].astype(np.float64) * gain + lift
    out[at : at + length] = np.clip(f, 0, 255).astype(np.uint8)
    return out


def assemble(
    shots: list[np.ndarray], joins: list[tuple[str, dict]]
) -> tuple[np.ndarray, list[Transition]]:
    """Join `shots` in order with `joins[i]` between shot i and i+1: ("cut", {}),
    ("dissolve", {"length": 16}) or ("fade", {"out_len": 10, "in_len": 10, "hold": 3}).
    Returns the clip and its transitions in frame order."""
    if len(joins) != len(shots) - 1:
        raise ValueError(f"need {len(shots) - 1} joins for {len(shots)} shots, got {len(joins)}")
    clip = shots[0]
    truth: list[Transition] = []
    for shot, (kind, kw) in zip(shots[1:], joins):
        if kind == "cut":
            clip, t = join_cut(clip, shot)
        elif kind == "dissolve":
            clip, t = join_dissolve(clip, shot, **kw)
        elif kind == "fade":
            clip, t = join_fade(clip, shot, **kw)
        else:
            raise ValueError(f"unknown join {kind!r}: use cut, dissolve or fade")
        truth.append(t)  # joins work on the clip so far: positions are already clip frames
    return clip, truth


def decode_rgb(path: str | Path, size: tuple[int, int], stop: int | None = None) -> tuple[np.ndarray, np.ndarray, Fraction]:
    """Decode a video file to (n, H, W, 3) uint8 RGB at `size` (width, height) with PyAV,
    with its pts (n,) int64 and time base; stops after `stop` frames when given."""
    import av  # local: only clip building needs a decoder

    w, h = size
    images, pts = [], []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            images.append(frame.to_ndarray(format="rgb24", width=w, height=h))
            pts.append(frame.pts)
            if stop is not None and len(images) >= stop:
                break
        time_base = Fraction(stream.time_base)
    return np.stack(images), np.asarray(pts, np.int64), time_base
