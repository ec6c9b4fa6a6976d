"""Person IDs of tracks, decided while the tracks are still running.

A track is identified once, as soon as it has enough evidence, so that an `enter` event can
name the person within a second of them appearing instead of when the scene closes:

- a face after `FACE_MIN` detections, from the people gallery by its appearance;
- a body after `BODY_MIN` detections: the person of a face whose centre lies inside it in
  at least `FACE_IN_BODY` of the face's recent frames, else the gallery by the body's own
  appearance, if at least `FACE_MIN` of its detections have one (as for a face, one frame is
  too little evidence: a body whose one face-bearing frame was the blonde dancer's was the
  singer on the test video, docs/models.md);
- a body the gallery cannot place that starts where another body was lost inside the
  picture just before (`HANDOVER_S`, `HANDOVER_REACH`), not after a cut, and not seen since,
  is that body's person: the tracker lost a walker behind another or a sign and took them up
  again as a new track, and the person stays in view instead of leaving and entering again;
- any other track the gallery cannot place (no appearance: e.g. a body far from the camera,
  whose face is too small to see) is an anonymous person of this stream, named
  `t<track ID>`: still counted in view and given enter and leave events, never matched across
  streams.

The decision is final for the track (the gallery keeps learning from later tracks), so the
events, the `tracks` rows and the scene's people agree. A decision stored earlier
(`known`: a re-index, or a replay after a crash) is taken instead of asking the gallery,
which has learnt since and could answer differently.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Container, Mapping
from dataclasses import dataclass, field

import numpy as np

from vstream.detect.labels import FACE, PERSON
from vstream.track.gallery import Gallery
from vstream.track.presence import Sighting, at_edge
from vstream.track.tracklets import MAX_EMBEDDINGS, FrameRecord

#: a face needs this many detections to be identified (one frame is too little evidence: a
#: false face would become a person); a body needs BODY_MIN
FACE_MIN, BODY_MIN = 2, 4
#: a body takes the identity of a face whose centre lies in it this often
FACE_IN_BODY = 0.5
#: recent boxes kept per track for the face-in-body test
RECENT_BOXES = 8
#: a body track nobody could identify takes the person of a body track lost inside the picture
#: at most this many seconds before it started, within this many of the lost box's heights of
#: where it started (`TrackIdentities._lost_where_it_started`; measured on vtest.avi's labelled
#: minute, docs/models.md "Where a person was last seen": the same enters for 1-2 s and 1-1.5
#: heights)
HANDOVER_S, HANDOVER_REACH = 1.0, 1.0
#: prefix of the anonymous people of a stream (person IDs of the gallery start with "p")
ANONYMOUS = "t"


def anonymous_id(track_id: int) -> str:
    """The person ID of a track nobody could identify: unique within its stream."""
    return f"{ANONYMOUS}{track_id}"


@dataclass
class _Track:
    class_id: int
    first_frame: int
    first_s: float
    last_frame: int = -1
    detections: int = 0
    boxes: deque = field(default_factory=lambda: deque(maxlen=RECENT_BOXES))  # (frame, xyxy)
    embeddings: list = field(default_factory=list)
    person_id: str | None = None  # None: not decided yet
    #: media time it was last seen; None once a cut followed (no track continues into a new shot)
    last_s: float | None = None


class TrackIdentities:
    """Person IDs of one stream's face and body tracks (see the module docstring)."""

    def __init__(self, stream_id: str, gallery: Gallery) -> None:
        self.stream_id = stream_id
        self.gallery = gallery
        #: decisions stored earlier, by track ID ("" for an anonymous track)
        self.known: Mapping[int, str] = {}
        self._tracks: dict[int, _Track] = {}

    def observe(self, record: FrameRecord, cut: bool = False) -> dict[str, Sighting]:
        """Take one analysed frame's tracked detections (`cut`: the first frame of a new shot);
        return the people it shows (person ID -> the identified track showing them, the
        earliest-started if several)."""
        if cut:
            for track in self._tracks.values():
                track.last_s = None
        d = record.detections
        scale = np.array([record.size[0], record.size[1]] * 2, np.float32)
        in_frame = []
        for i in np.flatnonzero((d.tracker_id >= 0) & np.isin(d.class_id, (FACE, PERSON))):
            tid = int(d.tracker_id[i])
            track = self._tracks.setdefault(tid, _Track(int(d.class_id[i]), record.frame_index,
                                                        record.t_s))
            track.last_frame, track.last_s = record.frame_index, record.t_s
            track.detections += 1
            track.boxes.append((record.frame_index, d.xyxy[i] / scale))
            if d.embedding is not None and len(track.embeddings) < MAX_EMBEDDINGS:
                track.embeddings.append(d.embedding[i])
            in_frame.append(tid)
        # faces first: a body decided in the same frame can take the face's identity
        for class_id, least in ((FACE, FACE_MIN), (PERSON, BODY_MIN)):
            for tid in sorted(in_frame):
                track = self._tracks[tid]
                if track.class_id == class_id and track.person_id is None and track.detections >= least:
                    track.person_id = self._decide(tid, track, record.t_s, record.size)
        seen: dict[str, Sighting] = {}
        for tid in sorted(in_frame, key=lambda t: (self._tracks[t].first_frame, t)):
            track = self._tracks[tid]
            if track.person_id is not None:
                seen.setdefault(track.person_id, Sighting(tid, track.first_frame, track.first_s,
                                                          at_edge(track.boxes[-1][1])))
        return seen

    def wants_identity(self, track_id: int) -> bool:
        """Whether the track's faces still need identity vectors: it is not identified yet and
        was not stored before (`known`)."""
        track = self._tracks.get(track_id)
        return track_id not in self.known and (track is None or track.person_id is None)

    def person_of(self, track_id: int) -> str:
        """The gallery person of a decided track; "" for an anonymous or undecided one (the
        `tracks` table and a scene's people name gallery people only)."""
        track = self._tracks.get(track_id)
        if track is None or track.person_id is None or track.person_id.startswith(ANONYMOUS):
            return ""
        return track.person_id

    def forget(self, live: Container[int], before_frame: int) -> None:
        """Drop tracks the trackers no longer hold (not in `live`) whose last frame is before
        `before_frame` (every frame showing them is described): memory stays bounded."""
        for tid in [t for t, track in self._tracks.items()
                    if t not in live and track.last_frame < before_frame]:
            del self._tracks[tid]

    def state(self) -> dict:
        """The tracks as plain data, for a checkpoint."""
        return {tid: (t.class_id, t.first_frame, t.first_s, t.last_frame, t.detections,
                      list(t.boxes), list(t.embeddings), t.person_id, t.last_s)
                for tid, t in self._tracks.items()}

    def load_state(self, state: dict) -> None:
        """Continue the stream `state()` was taken from."""
        self._tracks = {}
        for tid, (class_id, first, first_s, last, n, boxes, embeddings, person,
                  *last_s) in state.items():  # last_s: absent from states saved before 2026-12-05
            self._tracks[tid] = _Track(class_id, first, first_s, last, n,
                                       deque(boxes, maxlen=RECENT_BOXES), list(embeddings), person,
                                       *last_s)

    def _decide(self, tid: int, track: _Track, t_s: float, size: tuple[int, int]) -> str:
        known = self.known.get(tid)
        if known:
            return known
        person = None
        if known is None:  # not stored before ("": stored as nobody the faces or gallery knew)
            person = self._face_inside(track) if track.class_id == PERSON else None
            seen = [e for e in track.embeddings if np.any(e)]  # zero rows: no appearance
            if person is None and len(seen) >= FACE_MIN:
                person = self.gallery.identify(np.array(seen), self.stream_id, t_s)
        # the stream's own tracks decide this, not the gallery: a replay decides it again alike
        if person is None and track.class_id == PERSON:
            person = self._lost_where_it_started(track, size)
        return person or anonymous_id(tid)

    def _lost_where_it_started(self, body: _Track, size: tuple[int, int]) -> str | None:
        """The person of the body track lost inside the picture at most `HANDOVER_S` before
        `body` started, within `HANDOVER_REACH` of where it started, and not seen since (the
        nearest if several): a walker the tracker lost behind another or a sign and took up
        again as a new track."""
        scale = np.array([size[0], size[1]] * 2, np.float32)
        start = _centre(body.boxes[0][1] * scale)
        seen_since = {t.person_id for t in self._tracks.values()
                      if t.last_frame >= body.first_frame}
        best, best_distance = None, np.inf
        for old in self._tracks.values():
            if (old.class_id != PERSON or old.person_id is None or old.last_s is None
                    or old.last_frame >= body.first_frame or old.person_id in seen_since
                    or body.first_s - old.last_s > HANDOVER_S or at_edge(old.boxes[-1][1])):
                continue
            last = old.boxes[-1][1] * scale
            distance = float(np.hypot(*(_centre(last) - start)))
            if distance <= HANDOVER_REACH * (last[3] - last[1]) and distance < best_distance:
                best, best_distance = old.person_id, distance
        return best

    def _face_inside(self, body: _Track) -> str | None:
        """The person of the face most often inside `body` in its recent frames, if often enough."""
        boxes = dict(body.boxes)
        best, best_share = None, 0.0
        for face in self._tracks.values():
            if face.class_id != FACE or face.person_id is None:
                continue
            shared = [(f, b) for f, b in face.boxes if f in boxes]
            if not shared:
                continue
            hits = sum(_centre_inside(b, boxes[f]) for f, b in shared)
            share = hits / len(shared)
            if share > best_share:
                best, best_share = face.person_id, share
        return best if best_share >= FACE_IN_BODY else None


def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


def _centre_inside(inner: np.ndarray, outer: np.ndarray) -> bool:
    cx, cy = (inner[0] + inner[2]) / 2, (inner[1] + inner[3]) / 2
    return bool(outer[0] <= cx <= outer[2] and outer[1] <= cy <= outer[3])
