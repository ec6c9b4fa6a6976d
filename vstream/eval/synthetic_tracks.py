"""Deterministic synthetic tracking sequences with ground truth.

Objects move with constant velocity plus noise; the detector misses some, reports some with a low
score (as if partly hidden), adds false positives, and can lose an object for a few frames
(occlusion: the object is hidden, so it is absent from the ground truth too). Each detection
carries its true identity in `data["gt_id"]` (-1 for false positives) and, when asked, an
appearance embedding: the object's own unit vector plus noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vstream.detections import Detections

FRAME_SIZE = (1280, 720)


@dataclass(frozen=True)
class ObjectSpec:
    """One object: box (x1, y1, w, h) at frame `start`, velocity (vx, vy) px/frame, visible
    frames [start, end), and frames [hidden_from, hidden_to) when it is occluded."""

    xywh: tuple[float, float, float, float]
    velocity: tuple[float, float]
    start: int = 0
    end: int | None = None
    hidden: tuple[int, int] | None = None


@dataclass(frozen=True)
class Sequence:
    name: str
    detections: list[Detections]  # per frame, data["gt_id"]
    ground_truth: list[Detections]  # per frame, tracker_id = GT identity
    notes: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.detections)


def make_sequence(
    name: str,
    objects: list[ObjectSpec],
    num_frames: int,
    seed: int = 0,
    box_noise: float = 2.0,
    miss_rate: float = 0.05,
    low_score_rate: float = 0.1,
    fp_rate: float = 0.3,
    embedding_dim: int | None = None,
    embedding_noise: float = 0.3,
) -> Sequence:
    """Render `objects` for `num_frames` frames; every random draw comes from `seed`.

    miss_rate: chance a visible object is not detected (it stays in the ground truth).
    low_score_rate: chance a detection scores in [0.15, 0.45) instead of [0.6, 0.95).
    fp_rate: expected false positives per frame (Poisson), random boxes scoring in [0.3, 0.75).
    """
    rng = np.random.default_rng(seed)
    w, h = FRAME_SIZE
    base_emb = None
    if embedding_dim:
        base_emb = rng.normal(size=(len(objects), embedding_dim))
        base_emb /= np.linalg.norm(base_emb, axis=1, keepdims=True)
    dets: list[Detections] = []
    truth: list[Detections] = []
    for f in range(num_frames):
        g_box, g_id, d_box, d_score, d_id, d_emb = [], [], [], [], [], []
        for k, o in enumerate(objects):
            if f < o.start or (o.end is not None and f >= o.end):
                continue
            t = f - o.start
            x, y = o.xywh[0] + o.velocity[0] * t, o.xywh[1] + o.velocity[1] * t
            box = np.array([x, y, x + o.xywh[2], y + o.xywh[3]])
            if box[2] < 0 or box[0] > w or box[3] < 0 or box[1] > h:
                continue  # left the frame
            if o.hidden is not None and o.hidden[0] <= f < o.hidden[1]:
                continue
            g_box.append(box)
            g_id.append(k + 1)
            if rng.random() < miss_rate:
                continue
            d_box.append(box + rng.normal(0, box_noise, 4))
            d_score.append(rng.uniform(0.15, 0.45) if rng.random() < low_score_rate else rng.uniform(0.6, 0.95))
            d_id.append(k + 1)
            if base_emb is not None:
                d_emb.append(base_emb[k] + rng.normal(0, embedding_noise / np.sqrt(embedding_dim), embedding_dim))
        for _ in range(rng.poisson(fp_rate)):
            bw, bh = rng.uniform(30, 120), rng.uniform(60, 240)
            x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            d_box.append(np.array([x, y, x + bw, y + bh]))
            d_score.append(rng.uniform(0.3, 0.75))
            d_id.append(-1)
            if base_emb is not None:
                e = rng.normal(size=embedding_dim)
                d_emb.append(e / np.linalg.norm(e))
        n = len(d_box)
        dets.append(Detections(
            np.array(d_box, np.float32).reshape(n, 4), np.array(d_score, np.float32),
            embedding=None if base_emb is None else np.array(d_emb, np.float32).reshape(n, embedding_dim),
            data={"gt_id": np.array(d_id, np.int64)}, metadata={"frame": f},
        ))
        truth.append(Detections(np.array(g_box, np.float32).reshape(-1, 4),
                                tracker_id=np.array(g_id, np.int64), metadata={"frame": f}))
    return Sequence(name, dets, truth)


def crossing(seed: int = 0, embedding_dim: int | None = None, **kw) -> Sequence:
    """Two people of the same size walk towards each other and pass at the same height."""
    objs = [ObjectSpec((200, 300, 60, 150), (8, 0)), ObjectSpec((1000, 305, 60, 150), (-8, 0))]
    return make_sequence("crossing", objs, 100, seed, embedding_dim=embedding_dim, **kw)


def occlusion(seed: int = 0, frames_hidden: int = 10, embedding_dim: int | None = None, **kw) -> Sequence:
    """One person walks behind a pillar for `frames_hidden` frames while another walks nearby."""
    objs = [ObjectSpec((100, 200, 50, 130), (6, 1), hidden=(40, 40 + frames_hidden)),
            ObjectSpec((300, 450, 50, 130), (5, -0.5))]
    return make_sequence("occlusion", objs, 100, seed, embedding_dim=embedding_dim, **kw)


def crowd(seed: int = 0, num_objects: int = 12, num_frames: int = 200, embedding_dim: int | None = None,
          **kw) -> Sequence:
    """Many people entering and leaving at random, walking in random directions."""
    rng = np.random.default_rng(seed + 1000)
    objs = []
    for _ in range(num_objects):
        bw = rng.uniform(40, 90)
        start = int(rng.integers(0, num_frames // 2))
        objs.append(ObjectSpec(
            (rng.uniform(0, FRAME_SIZE[0] - bw), rng.uniform(0, FRAME_SIZE[1] - 2.5 * bw), bw, 2.5 * bw),
            (rng.uniform(-6, 6), rng.uniform(-3, 3)), start=start,
            end=start + int(rng.integers(num_frames // 4, num_frames)),
            hidden=(start + 20, start + 20 + int(rng.integers(0, 12))) if rng.random() < 0.3 else None,
        ))
    return make_sequence("crowd", objs, num_frames, seed, embedding_dim=embedding_dim, **kw)


def suite(seed: int = 0, embedding_dim: int | None = None) -> list[Sequence]:
    """The benchmark/test suite: crossing, 10-frame occlusion, and three crowds."""
    return [crossing(seed, embedding_dim), occlusion(seed, 10, embedding_dim)] + [
        crowd(seed + i, embedding_dim=embedding_dim) for i in range(3)]
