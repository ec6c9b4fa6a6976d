"""Rows of what the stages found: analysed frames, scenes, tracklets, presence events and people.

The stages return domain objects (`FrameRecord`, `Scene`, `Tracklet`, `PresenceEvent`, `Person`)
and know nothing of tables; these functions make the rows the writer stores, and turn stored
people back into the gallery's. `stream_id` and `version` (the row version: vstream, shot
detector and frame model) are the same for every row of one stream and run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from vstream.detect.labels import CLASS_NAMES
from vstream.store.rows import DetectionRow, EventRow, PersonRow, SceneRow, TrackRow
from vstream.track.gallery import Person

if TYPE_CHECKING:
    from vstream.segment.scenes import Scene
    from vstream.track.presence import PresenceEvent
    from vstream.track.tracklets import FrameRecord, Tracklet


def detection_rows(stream_id: str, version: str, frames: Iterable[FrameRecord]) -> list[DetectionRow]:
    """One row per detection of each analysed frame, boxes as fractions of the frame; `rank`
    is the detection's place in its frame, `track_id` 0 where no confirmed track took it."""
    rows = []
    for record in frames:
        tracked = record.detections
        w, h = record.size
        scale = np.array([w, h, w, h], np.float32)
        for rank in range(len(tracked)):
            x1, y1, x2, y2 = (tracked.xyxy[rank] / scale).clip(0, 1).tolist()
            rows.append(DetectionRow(
                stream_id, record.frame_index, rank, record.t_s,
                CLASS_NAMES[int(tracked.class_id[rank])], float(tracked.confidence[rank]),
                x1, y1, x2, y2, max(int(tracked.tracker_id[rank]), 0), version))
    return rows


def scene_rows(stream_id: str, version: str, scenes: Iterable[Scene]) -> list[SceneRow]:
    """The `scenes` rows of described scenes."""
    return [SceneRow(stream_id=stream_id, scene_index=s.index, start_s=s.start_s, end_s=s.end_s,
                     start_frame=s.start_frame, end_frame=s.end_frame, model_version=version,
                     tags=s.tags, people=s.people, description=s.description) for s in scenes]


def track_rows(stream_id: str, version: str, scene_index: int,
               tracklets: Iterable[Tracklet]) -> list[TrackRow]:
    """The `tracks` rows of one scene's tracklets."""
    return [TrackRow(stream_id, t.track_id, scene_index, CLASS_NAMES[t.class_id], t.person_id,
                     t.first_frame, t.last_frame, t.times[0], t.times[-1], len(t.frames), version)
            for t in tracklets]


def event_rows(stream_id: str, version: str, events: Iterable[PresenceEvent]) -> list[EventRow]:
    """The `events` rows of presence events."""
    return [EventRow(stream_id, e.frame, e.t_s, e.kind, e.person_id, e.people, version,
                     track_id=e.track_id) for e in events]


def person_rows(people: Sequence[Person]) -> list[PersonRow]:
    """The `people` rows of gallery people."""
    return [PersonRow(p.model_version, p.person_id, tuple(map(tuple, p.exemplars.tolist())),
                      p.tracklets, p.first_stream, p.first_s, p.last_stream, p.last_s, p.version)
            for p in people]


def stored_people(rows: Iterable[PersonRow]) -> list[Person]:
    """Gallery people of stored `people` rows (`ClickHouseWriter.people`)."""
    return [Person(r.model_version, r.person_id,
                   np.asarray(r.exemplars, np.float32).reshape(len(r.exemplars), -1),
                   r.tracklets, r.first_stream, r.first_s, r.last_stream, r.last_s, r.version)
            for r in rows]
