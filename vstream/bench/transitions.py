"""A shot-transition benchmark made from real footage.

Ground truth for gradual transitions is rare in public data that installs from PyPI, so the
benchmark builds it: stretches of real footage that lie inside shots (no boundary found near them
by either reference detector) are joined with hard cuts, linear dissolves, or fades through black,
the way TransNetV2's own training data was made. The transitions are then known exactly. One video
per transition kind, so precision, recall and F1 are per kind.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import cv2
import numpy as np

KINDS = ("cut", "dissolve", "fade")


@dataclass(frozen=True)
class Transition:
    """Frames [start, end] (inclusive) of one transition; `boundary` is where the new shot starts."""

    kind: str
    start: int
    end: int
    boundary: int


@dataclass(frozen=True)
class Segment:
    start: int
    end: int  # exclusive

    def __len__(self) -> int:
        return self.end - self.start


def clean_segments(n_frames: int, boundaries: Iterable[int], margin: int = 5, min_len: int = 30,
                   max_len: int = 90) -> list[Segment]:
    """Stretches of at least `min_len` frames farther than `margin` from every boundary.

    Long stretches are split so one long shot does not dominate a benchmark video.
    """
    if max_len < 2 * min_len:
        raise ValueError(f"max_len ({max_len}) must be at least twice min_len ({min_len})")
    blocked = np.zeros(n_frames, bool)
    for b in boundaries:
        blocked[max(0, b - margin) : min(n_frames, b + margin + 1)] = True
    segments = []
    i = 0
    while i < n_frames:
        if blocked[i]:
            i += 1
            continue
        j = i
        while j < n_frames and not blocked[j]:
            j += 1
        if j - i >= min_len:
            # even pieces of at most max_len frames (each >= max_len / 2 >= min_len)
            pieces = -(-(j - i) // max_len)
            edges = np.linspace(i, j, pieces + 1).round().astype(int)
            segments += [Segment(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]
        i = j
    return segments


def compose(frames: np.ndarray, segments: list[Segment], kind: str, seed: int = 0
            ) -> tuple[Iterator[np.ndarray], list[Transition]]:
    """Join `segments` of `frames` in a seeded random order with transitions of one `kind`.

    Returns an iterator of output frames (so a long benchmark is never held whole) and the
    ground-truth transitions.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    rng = random.Random(seed)
    order = segments[:]
    rng.shuffle(order)
    plan: list[tuple[Segment, int, int, int]] = []  # segment, transition length, black frames, fade-in
    transitions: list[Transition] = []
    pos = 0
    avail = 0  # frames at the end of the previous segment no transition has used yet
    for k, seg in enumerate(order):
        if k == 0:
            plan.append((seg, 0, 0, 0))
            pos += len(seg)
            avail = len(seg)
            continue
        if kind == "cut":
            transitions.append(Transition(kind, pos, pos, pos))
            plan.append((seg, 0, 0, 0))
            pos += len(seg)
            avail = len(seg)
        elif kind == "dissolve":
            length = rng.randint(10, min(30, (len(seg) - 5) // 2, avail - 5))
            # the dissolve overlaps the previous segment's tail: output position moves back
            start = pos - length
            transitions.append(Transition(kind, start, start + length - 1, start + length // 2))
            plan.append((seg, length, 0, 0))
            pos = start + len(seg)
            avail = len(seg) - length
        else:  # fade through black: fade out the tail of A, hold black, fade in the head of B
            out_len = rng.randint(6, min(20, avail - 5))
            black = rng.randint(0, 4)
            in_len = rng.randint(6, min(20, (len(seg) - 5) // 2))
            start = pos - out_len
            transitions.append(Transition(kind, start, pos + black + in_len - 1, pos + black))
            plan.append((seg, out_len, black, in_len))
            pos += black + len(seg)
            avail = len(seg) - in_len
    return _render(frames, plan, kind), transitions


def _render(frames: np.ndarray, plan: list[tuple[Segment, int, int, int]], kind: str) -> Iterator[np.ndarray]:
    pending: list[np.ndarray] = []  # tail of the previous segment not yet emitted
    for seg, length, black, in_len in plan:
        clip = frames[seg.start : seg.end].astype(np.float32)
        if kind == "dissolve" and length:
            alpha = (np.arange(1, length + 1, dtype=np.float32) / (length + 1))[:, None, None, None]
            tail = np.stack(pending[-length:])
            yield from pending[:-length]
            mixed = (1 - alpha) * tail + alpha * clip[:length]
            yield from mixed
            pending = list(clip[length:])
        elif kind == "fade" and length:
            fade = np.linspace(1, 0, length + 2, dtype=np.float32)[1:-1, None, None, None]
            tail = np.stack(pending[-length:])
            yield from pending[:-length]
            yield from tail * fade
            yield from (np.zeros_like(clip[0]) for _ in range(black))
            rise = np.linspace(0, 1, in_len + 2, dtype=np.float32)[1:-1, None, None, None]
            clip[:in_len] *= rise
            pending = list(clip)
        else:
            yield from pending
            pending = list(clip)
    yield from pending


def write_video(path: Path, frames: Iterable[np.ndarray], size: tuple[int, int], fps: int = 25) -> int:
    """Encode RGB frames with H.264 at `size`, upscaling with bicubic interpolation."""
    n = 0
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast"}
        for f in frames:
            img = np.clip(f, 0, 255).astype(np.uint8)
            if (img.shape[1], img.shape[0]) != size:
                img = cv2.resize(img, size, interpolation=cv2.INTER_CUBIC)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
            n += 1
        for packet in stream.encode():
            out.mux(packet)
    return n


def save_truth(path: Path, transitions: list[Transition], frames: int) -> None:
    path.write_text(json.dumps({"frames": frames, "transitions": [asdict(t) for t in transitions]}, indent=1))


def load_truth(path: Path) -> tuple[list[Transition], int]:
    data = json.loads(path.read_text())
    return [Transition(**t) for t in data["transitions"]], int(data["frames"])


@dataclass(frozen=True)
class Score:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: Score) -> Score:
        return Score(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)


def score(predicted: Iterable[int], truth: list[Transition], tolerance: int = 2) -> Score:
    """One-to-one matching: a predicted boundary hits a transition if it falls inside the
    transition's frames widened by `tolerance`; each transition is hit at most once, extra
    predictions inside one transition are false positives."""
    preds = sorted(set(predicted))
    used = [False] * len(truth)
    tp = 0
    for p in preds:
        for i, t in enumerate(truth):
            if not used[i] and t.start - tolerance <= p <= t.end + tolerance:
                used[i] = True
                tp += 1
                break
    return Score(tp, len(preds) - tp, len(truth) - tp)
