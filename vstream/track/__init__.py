"""Multi-object tracking: ByteTrack-style association over `Detections`, and its metrics."""

from vstream.track.byte_tracker import ByteTracker
from vstream.track.single_object_track import SingleObjectTrack, TrackState

__all__ = ["ByteTracker", "SingleObjectTrack", "TrackState"]
