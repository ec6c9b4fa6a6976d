"""Tracking benchmark: vstream's ByteTracker against supervision's ByteTrack on the same synthetic
detections, one run: MOTA, IDF1, frames per second and the ratios."""

from __future__ import annotations

import time
import warnings

import numpy as np

from vstream.bench.runner import Table, _need
from vstream.detections import Detections
from vstream.track import ByteTracker
from vstream.eval.mot import TrackingScores, evaluate
from vstream.eval.synthetic_tracks import Sequence, suite

# supervision's ByteTrack default track_activation_threshold; ours runs with the same value so the
# two see the same high/low split of the same detections.
TRACK_THRESH = 0.25


def run_ours(seq: Sequence, **kwargs) -> tuple[list[Detections], float]:
    """Track `seq` with a fresh ByteTracker; returns per-frame output and seconds spent."""
    tracker = ByteTracker(**kwargs)
    t = time.perf_counter()
    out = [tracker.update(d) for d in seq.detections]
    return out, time.perf_counter() - t


def run_supervision(seq: Sequence, frame_rate: float = 25) -> tuple[list[Detections], float]:
    """Track `seq` with supervision's ByteTrack (defaults, frame_rate 25); the conversion to and
    from supervision's Detections is timed too."""
    sv = _need("supervision", "supervision")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # ByteTrack is deprecated there since 0.28
        tracker = sv.ByteTrack(track_activation_threshold=TRACK_THRESH, frame_rate=frame_rate)
    out = []
    t = time.perf_counter()
    for d in seq.detections:
        got = tracker.update_with_detections(sv.Detections(xyxy=d.xyxy, confidence=d.confidence,
                                                           class_id=d.class_id))
        tid = np.asarray(got.tracker_id if got.tracker_id is not None else [], np.int64)
        out.append(Detections(np.asarray(got.xyxy, np.float32).reshape(-1, 4), tracker_id=tid))
    return out, time.perf_counter() - t


def _pred(frames: list[Detections]) -> list[Detections]:
    return [d[d.tracker_id >= 0] for d in frames]


def compare(seed: int = 0, embedding_dim: int | None = None, track_thresh: float = TRACK_THRESH) -> dict[str, tuple[TrackingScores, int, float]]:
    """Scores, frames and seconds of both trackers over the whole suite (sequences concatenated for
    the metrics by offsetting identities)."""
    seqs = suite(seed, embedding_dim)
    result = {}
    runs = (("vstream", lambda s: run_ours(s, track_thresh=track_thresh)), ("supervision", run_supervision))
    for name, run in runs:
        gt_all, pred_all, seconds, frames = [], [], 0.0, 0
        for k, s in enumerate(seqs):
            out, dt = run(s)
            seconds += dt
            frames += len(s)
            off = (k + 1) * 1_000_000  # keep identities of different sequences apart
            gt_all += [g.with_tracker_id(g.tracker_id + off) for g in s.ground_truth]
            pred_all += [p.with_tracker_id(p.tracker_id + off) for p in _pred(out)]
        result[name] = (evaluate(gt_all, pred_all), frames, seconds)
    return result


def bench_tracking(seed: int = 0) -> Table:
    """Both trackers on the synthetic suite (crossing, occlusion, crowds), with and without
    appearance embeddings for ours (supervision's ByteTrack uses boxes only)."""
    run_ours(suite(seed)[0])  # compile the kernels outside the timing
    table = Table("Tracking on synthetic sequences: vstream ByteTracker vs supervision ByteTrack",
                  ["tracker", "MOTA", "IDF1", "IDSW", "frames/s", "IDF1 ratio", "speed ratio"])
    base = compare(seed)
    with_emb = compare(seed, embedding_dim=64)["vstream"]
    sv_scores, sv_frames, sv_s = base["supervision"]
    default = compare(seed, track_thresh=0.5)["vstream"]
    rows = [("vstream", base["vstream"]), ("vstream + appearance", with_emb),
            ("vstream, track_thresh 0.5 (our default)", default), ("supervision", base["supervision"])]
    for name, (sc, frames, seconds) in rows:
        table.rows.append([name, f"{sc.mota:.3f}", f"{sc.idf1:.3f}", str(sc.id_switches), f"{frames / seconds:.0f}",
                           f"{sc.idf1 / sv_scores.idf1:.3f}", f"{(frames / seconds) / (sv_frames / sv_s):.2f}x"])
    table.notes.append(f"{len(suite(seed))} sequences, {sv_frames} frames, seed {seed}; frames/s include "
                       "converting detections for supervision; ratios are against supervision; both use "
                       f"track_thresh {TRACK_THRESH} and frame_rate 25 unless noted.")
    return table


if __name__ == "__main__":
    print(bench_tracking().text())
