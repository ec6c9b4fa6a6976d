"""`vstream index`'s decode and model threads end with the file, also when it fails."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from vstream.detect.analysis import EMBED_DIM, FrameAnalysis
from vstream.detections import Detections
from vstream.drivers.index import run_stages
from vstream.stream.stages import StreamStages
from vstream.track.gallery import PeopleGallery
from vstream.weights import test_video_path


class PipelinedNothingModel:
    """A frame model that finds nothing, run on a thread of its own as the unified network is
    (unless `pipelined` is set False, as the teachers)."""

    model_version = "test"
    input_size = (384, 224)
    track_thresholds: dict = {}
    face_identity = None
    pipelined = True

    def frame_size(self, width: int, height: int) -> tuple[int, int]:
        return width, height

    def analyze(self, images: np.ndarray) -> list[FrameAnalysis]:
        return [FrameAnalysis(Detections.empty(EMBED_DIM), tag_scores=np.zeros(1, np.float32))
                for _ in images]


def _pipeline_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(("decode-s", "model-s"))]


@pytest.mark.parametrize("pipelined", [True, False])
def test_a_failure_on_the_main_thread_stops_the_decode_and_model_threads_before_it_is_raised(
        pipelined: bool) -> None:
    """A failure part-way (a store gone, a bug) must stop the threads still decoding and running
    the network before it reaches the caller: an interpreter that exits on it while the network
    runs native code on another thread aborts ("terminate called without an active exception")."""
    pushes = []

    def store_down(output) -> None:
        pushes.append(output)
        if len(pushes) == 2:
            raise ConnectionError("store down")

    def stages_for(chunker):
        model = PipelinedNothingModel()
        model.pipelined = pipelined
        return StreamStages("s", float(chunker.info.frame_rate), shots="fast", model=model,
                            gallery=PeopleGallery("test", 0.5))

    # the exception is held (as by a caller that reports it, or an interpreter exiting on
    # it): its traceback keeps run_stages' frame alive, so garbage collection cannot be what
    # stops the threads
    with pytest.raises(ConnectionError, match="store down") as failure:
        run_stages(str(test_video_path()), "s", stages_for, on_output=store_down)
    assert _pipeline_threads() == [], failure.value
