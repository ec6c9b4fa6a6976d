"""Multi-object tracking: ByteTrack-style association over `Detections` (its scores: `vstream.eval.mot`)."""

from vstream.track.byte_tracker import ByteTracker
from vstream.track.single_object_track import SingleObjectTrack, TrackState

__all__ = ["ByteTracker", "SingleObjectTrack", "TrackState"]
