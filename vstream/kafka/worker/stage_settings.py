"""What every stream's stages are made with in one worker: the same for new and restored streams."""

from __future__ import annotations

from dataclasses import dataclass

from vstream.detect.analysis import FrameModel
from vstream.stream.stages import DEFAULT_MAX_SCENE_S, StreamStages
from vstream.track.gallery import Gallery
from vstream.track.presence import DEFAULT_LEAVE_AFTER_S, DEFAULT_LEAVE_HIDDEN_S


@dataclass
class StageSettings:
    """The shot detector (`shots`), the frame model (`model`, None: no analysis), the analysis
    rate, the seconds unseen before a person leaves (last seen at the picture's edge, or inside
    it), the longest scene, and the people gallery
    (the registry all workers share, opened when the worker runs, so None until then)."""

    shots: str
    model: FrameModel | None
    analysis_fps: float
    leave_after_s: float = DEFAULT_LEAVE_AFTER_S
    leave_hidden_s: float = DEFAULT_LEAVE_HIDDEN_S
    max_scene_s: float = DEFAULT_MAX_SCENE_S
    gallery: Gallery | None = None

    def new(self, stream_id: str, frame_rate: float) -> StreamStages:
        """Fresh stages for a stream's first chunk."""
        return StreamStages(stream_id, frame_rate, shots=self.shots, model=self.model,
                            gallery=self.gallery, analysis_fps=self.analysis_fps,
                            leave_after_s=self.leave_after_s, leave_hidden_s=self.leave_hidden_s,
                            max_scene_s=self.max_scene_s)

    def restore(self, data: bytes, frame_rate: float) -> StreamStages:
        """The stages of a saved state (`StreamStages.snapshot`), with the shared model and
        gallery re-attached. Raises SnapshotError."""
        return StreamStages.restore(data, frame_rate, shots=self.shots, model=self.model,
                                    gallery=self.gallery, analysis_fps=self.analysis_fps,
                                    leave_after_s=self.leave_after_s,
                                    leave_hidden_s=self.leave_hidden_s,
                                    max_scene_s=self.max_scene_s)
