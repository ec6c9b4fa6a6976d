"""`ByteTracker`: ByteTrack's association (Zhang et al. 2022) with optional appearance gating.

The update loop follows `ifzhang/ByteTrack` `yolox/tracker/byte_tracker.py` step for step; the
steps are numbered below as there. Kalman steps and IoU matrices run as numba kernels batched over
all tracks of a frame.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from vstream.detections import Detections
from vstream.track import matching
from vstream.track.kalman_filter import KalmanFilter, xyxy_to_xyah
from vstream.track.single_object_track import SingleObjectTrack, TrackState


#: how far from its motion model's position a lost track may be found again, in track heights:
#: (at once, per second lost). A walker covers about 0.8 of their height a second; the motion
#: model carries their velocity, so this is the error around it, growing with time unseen.
REFIND_GATE = (0.5, 0.5)


def _has_appearance(track: SingleObjectTrack) -> bool:
    return track.embedding is not None and bool(np.any(track.embedding))


class IdCounter:
    """Track IDs 1, 2, 3, ...: an iterator like `itertools.count(1)` whose position can be read
    and set (`value`, the next ID), so a checkpoint can carry it."""

    def __init__(self, start: int = 1) -> None:
        self.value = start

    def __iter__(self) -> IdCounter:
        return self

    def __next__(self) -> int:
        value, self.value = self.value, self.value + 1
        return value


class ByteTracker:
    """Multi-object tracker: `update(detections) -> detections` with `tracker_id` filled.

    track_thresh: detections scoring at least this are "high" (first association); those in
        [low_thresh, track_thresh) are "low" (second association, only extend tracks).
    match_thresh: largest cost accepted in the first association (1 - IoU * score, blended with
        appearance when embeddings are present).
    track_buffer: frames (at 30 fps) a lost track is kept for re-identification by motion.
    frame_rate: the stream's frame rate; scales track_buffer.
    appearance_weight: weight of the appearance (cosine) distance when detections carry
        embeddings; 0 uses motion only.
    appearance_thresh: pairs whose appearance distance (1 - cos) / 2 exceeds this are never
        matched (0.25 means cosine similarity below 0.5).
    new_track_thresh: least score that starts a track (ByteTrack: track_thresh + 0.1).
    refind_seconds: a lost track with an appearance is kept this long (instead of track_buffer)
        to be found again by appearance (`refind_thresh`) near where its motion model puts it
        (`REFIND_GATE`), after IoU can no longer place it; 0 (default) turns this off.
    refind_thresh: largest appearance distance (1 - cos) / 2 at which a lost track is found again.
    id_counter: an iterator of ints giving public track ids (e.g. `itertools.count(1)`, or one
        shared by several trackers). None: a private `IdCounter`, restarted by `reset()`;
        an injected counter is left to its owner.
    """

    def __init__(
        self,
        track_thresh: float = 0.5,
        match_thresh: float = 0.8,
        track_buffer: int = 30,
        frame_rate: float = 25,
        appearance_weight: float = 0.5,
        appearance_thresh: float = 0.25,
        low_thresh: float = 0.1,
        new_track_thresh: float | None = None,
        embedding_momentum: float = 0.9,
        id_counter: Iterator[int] | None = None,
        refind_seconds: float = 0.0,
        refind_thresh: float = 0.2,
    ) -> None:
        if not 0.0 <= low_thresh <= track_thresh <= 1.0:
            raise ValueError(f"need 0 <= low_thresh <= track_thresh <= 1, got {low_thresh}, {track_thresh}")
        if not 0.0 <= appearance_weight <= 1.0:
            raise ValueError(f"appearance_weight must be in [0, 1], got {appearance_weight}")
        if frame_rate <= 0 or track_buffer < 0:
            raise ValueError(f"frame_rate must be > 0 and track_buffer >= 0, got {frame_rate}, {track_buffer}")
        self.track_thresh = track_thresh
        self.match_thresh = match_thresh
        self.low_thresh = low_thresh
        self.new_track_thresh = min(track_thresh + 0.1, 1.0) if new_track_thresh is None else new_track_thresh
        self.appearance_weight = appearance_weight
        self.appearance_thresh = appearance_thresh
        self.embedding_momentum = embedding_momentum
        self.max_time_lost = int(frame_rate / 30.0 * track_buffer)
        self.max_time_refind = max(self.max_time_lost, int(round(frame_rate * refind_seconds)))
        self.frame_rate = frame_rate
        self.refind_thresh = refind_thresh
        self.kalman_filter = KalmanFilter()
        self._own_counter = id_counter is None
        self._ids: Iterator[int] = IdCounter() if id_counter is None else id_counter
        self.reset()

    def reset(self) -> None:
        """Forget all tracks (a new stream or a cut); a private id counter restarts at 1."""
        self.frame_id = 0
        self.tracked: list[SingleObjectTrack] = []  # NEW and TRACKED
        self.lost: list[SingleObjectTrack] = []
        if self._own_counter:
            self._ids = IdCounter()

    def state(self) -> dict:
        """The tracks as plain data, for a checkpoint (a private ID counter's position too; an
        injected counter is its owner's to save)."""
        import copy

        out = {"frame_id": self.frame_id, "tracked": copy.deepcopy(self.tracked),
               "lost": copy.deepcopy(self.lost)}
        if self._own_counter:
            out["next_id"] = self._ids.value
        return out

    def load_state(self, state: dict) -> None:
        """Continue from `state()` of a tracker with the same settings."""
        import copy

        self.frame_id = int(state["frame_id"])
        self.tracked = copy.deepcopy(state["tracked"])
        self.lost = copy.deepcopy(state["lost"])
        if self._own_counter:
            self._ids.value = int(state["next_id"])

    # ------------------------------------------------------------------ helpers

    def _kalman_update(self, tracks: list[SingleObjectTrack], dets: Detections, rows: np.ndarray,
                       idx: np.ndarray) -> None:
        """Kalman-correct `tracks` with detection rows `rows` in one batched call; `idx` maps the
        rows back to the caller's original detection indices."""
        if not tracks:
            return
        mean, cov = self.kalman_filter.update(
            np.stack([t.mean for t in tracks]), np.stack([t.cov for t in tracks]), xyxy_to_xyah(dets.xyxy[rows]))
        for k, t in enumerate(tracks):
            r = rows[k]
            t.mean, t.cov = mean[k], cov[k]
            t.take(self.frame_id, float(dets.confidence[r]), int(dets.class_id[r]),
                   None if dets.embedding is None else dets.embedding[r], int(idx[r]), self._ids,
                   self.embedding_momentum)

    def _cost(self, tracks: list[SingleObjectTrack], dets: Detections, fuse: bool) -> np.ndarray:
        iou_dist = matching.iou_distance(
            np.array([t.xyxy for t in tracks], np.float32).reshape(-1, 4), dets.xyxy)
        cost = matching.fuse_score(iou_dist, dets.confidence) if fuse else iou_dist
        emb = None
        if dets.embedding is not None and self.appearance_weight > 0 and len(tracks) and len(dets):
            have = np.array([_has_appearance(t) for t in tracks])
            seen = np.linalg.norm(dets.embedding, axis=1) > 1e-6
            if have.any() and seen.any():
                t_emb = np.zeros((len(tracks), dets.embedding.shape[1]), np.float32)
                t_emb[have] = np.stack([t.embedding for t, h in zip(tracks, have) if h])
                emb = matching.cosine_distance(t_emb, dets.embedding)
                # a track or a detection without appearance (a zero embedding): motion only
                emb[~have[:, None] | ~seen[None, :]] = np.nan
        return matching.gate_appearance(cost, iou_dist, emb, self.appearance_weight,
                                        self.appearance_thresh, self.match_thresh)

    def _refind_cost(self, tracks: list[SingleObjectTrack], dets: Detections, frame: int) -> np.ndarray:
        """Appearance distance of lost tracks to detections; infeasible without an appearance
        on either side, or beyond `REFIND_GATE` of where the track's motion model puts it."""
        cost = np.full((len(tracks), len(dets)), matching.INFEASIBLE, np.float32)
        have = np.array([_has_appearance(t) for t in tracks], bool)
        if dets.embedding is None or not len(dets) or not have.any():
            return cost
        seen = np.linalg.norm(dets.embedding, axis=1) > 1e-6
        t_emb = np.stack([t.embedding if h else np.zeros(dets.embedding.shape[1], np.float32)
                          for t, h in zip(tracks, have)])
        emb = matching.cosine_distance(t_emb, dets.embedding)
        centre = np.array([t.mean[:2] for t in tracks], np.float64)
        height = np.array([t.mean[3] for t in tracks], np.float64)
        seconds = np.array([(frame - t.frame_id) / self.frame_rate for t in tracks])
        base, per_second = REFIND_GATE
        radius = height * (base + per_second * seconds)
        d_xyxy = dets.xyxy.astype(np.float64)
        d_centre = (d_xyxy[:, :2] + d_xyxy[:, 2:]) / 2
        dist = np.linalg.norm(centre[:, None, :] - d_centre[None], axis=2)
        ok = have[:, None] & seen[None, :] & (dist <= radius[:, None])
        cost[ok] = emb[ok]
        return cost

    # ------------------------------------------------------------------ the loop

    def update(self, detections: Detections) -> Detections:
        """Associate this frame's detections; returns the detections that belong to confirmed
        tracks, in input order, with `tracker_id` set (their other fields unchanged)."""
        if not isinstance(detections, Detections):
            raise TypeError(f"update() takes vstream.detections.Detections, got {type(detections).__name__}")
        self.frame_id += 1
        frame = self.frame_id
        xyxy = detections.xyxy
        valid = np.isfinite(xyxy).all(axis=1) & np.isfinite(detections.confidence) & (
            xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
        score = detections.confidence
        idx_high = np.flatnonzero(valid & (score >= self.track_thresh))
        idx_low = np.flatnonzero(valid & (score >= self.low_thresh) & (score < self.track_thresh))
        high, low = detections[idx_high], detections[idx_low]

        unconfirmed = [t for t in self.tracked if t.state is TrackState.NEW]
        tracked = [t for t in self.tracked if t.state is TrackState.TRACKED]
        activated: list[SingleObjectTrack] = []
        removed: list[SingleObjectTrack] = []

        # Step 1: predict every confirmed track (tracked and lost) with the Kalman model; lost
        # tracks stop growing (height velocity zeroed), as ByteTrack's multi_predict.
        lost = self.lost
        pool = tracked + lost
        if pool:
            mean = np.stack([t.mean for t in pool])
            for k, t in enumerate(pool):
                if t.state is not TrackState.TRACKED:
                    mean[k, 7] = 0.0
            mean, cov = self.kalman_filter.predict(mean, np.stack([t.cov for t in pool]))
            for k, t in enumerate(pool):
                t.mean, t.cov = mean[k], cov[k]

        # Step 2: first association, high-score detections against tracked + lost tracks (lost
        # for at most max_time_lost: ByteTrack's buffer): IoU fused with score, blended with
        # appearance when embeddings are present.
        pool = tracked + [t for t in lost if frame - t.frame_id <= self.max_time_lost + 1]
        matches, u_track, u_high = matching.linear_assignment(self._cost(pool, high, fuse=True), self.match_thresh)
        self._kalman_update([pool[i] for i in matches[:, 0]], high, matches[:, 1], idx_high)
        activated += [pool[i] for i in matches[:, 0]]

        # Step 3: second association, low-score detections against the still-unmatched tracked
        # tracks (not lost ones), IoU only (plus the appearance veto), threshold 0.5.
        remaining = [pool[i] for i in u_track if pool[i].state is TrackState.TRACKED]
        matches, u_remaining, _ = matching.linear_assignment(self._cost(remaining, low, fuse=False), 0.5)
        self._kalman_update([remaining[i] for i in matches[:, 0]], low, matches[:, 1], idx_low)
        activated += [remaining[i] for i in matches[:, 0]]
        for i in u_remaining:
            remaining[i].mark_lost()

        # Step 3b (not ByteTrack's): lost tracks found again by appearance among the high-score
        # detections left over, before those can start new tracks.
        if self.max_time_refind > self.max_time_lost and len(u_high):
            waiting = [t for t in lost if t.state is TrackState.LOST]
            cost = self._refind_cost(waiting, high[u_high], frame)
            matches, _, u_rest = matching.linear_assignment(cost, self.refind_thresh)
            self._kalman_update([waiting[i] for i in matches[:, 0]], high[u_high], matches[:, 1],
                                idx_high[u_high])
            activated += [waiting[i] for i in matches[:, 0]]
            u_high = u_high[u_rest]

        # Step 4: unconfirmed tracks (seen in one frame) against the high-score detections left
        # over from step 2, threshold 0.7; an unconfirmed track that misses is removed.
        left = high[u_high]
        idx_left = idx_high[u_high]
        matches, u_unconfirmed, u_new = matching.linear_assignment(self._cost(unconfirmed, left, fuse=True), 0.7)
        self._kalman_update([unconfirmed[i] for i in matches[:, 0]], left, matches[:, 1], idx_left)
        activated += [unconfirmed[i] for i in matches[:, 0]]
        for i in u_unconfirmed:
            unconfirmed[i].mark_removed()
            removed.append(unconfirmed[i])

        # Step 5: new tracks from the remaining high-score detections scoring >= new_track_thresh;
        # in the first frame they are confirmed at once.
        born = u_new[left.confidence[u_new] >= self.new_track_thresh]
        if len(born):
            mean, cov = self.kalman_filter.initiate(xyxy_to_xyah(left.xyxy[born]))
            for k, r in enumerate(born):
                emb = None if left.embedding is None else left.embedding[r]
                t = SingleObjectTrack(mean[k], cov[k], float(left.confidence[r]), int(left.class_id[r]),
                                      emb, frame, int(idx_left[r]))
                if frame == 1:
                    t.confirm(self._ids)
                activated.append(t)

        # Step 6: lost tracks not seen for more than max_time_lost frames are removed (those
        # with an appearance after max_time_refind); the track lists are rebuilt.
        newly_lost = [t for t in tracked if t.state is TrackState.LOST]
        lost = [t for t in self.lost if t.state is TrackState.LOST] + newly_lost
        for t in lost:
            keep = self.max_time_refind if _has_appearance(t) else self.max_time_lost
            if frame - t.frame_id > keep:
                t.mark_removed()
        self.lost = [t for t in lost if t.state is TrackState.LOST]
        self.tracked = activated

        out = [t for t in activated if t.state is TrackState.TRACKED and t.frame_id == frame]
        if not out:
            return detections[np.zeros(0, np.intp)].with_tracker_id(np.zeros(0, np.int64))
        rows = np.array([t.det_index for t in out], np.intp)
        ids = np.array([t.track_id for t in out], np.int64)
        order = np.argsort(rows)
        return detections[rows[order]].with_tracker_id(ids[order])

    @property
    def tracks(self) -> list[SingleObjectTrack]:
        """Live tracks (new, tracked and lost), for inspection."""
        return self.tracked + self.lost
