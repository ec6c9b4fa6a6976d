"""A fixed camera's events come out while its scene is still open: StreamStages on a real
encoded video of a static scene that someone walks through, with a frame model that finds them."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from vstream.detect.analysis import EMBED_DIM, FrameAnalysis
from vstream.detect.labels import PERSON
from vstream.detections import Detections
from vstream.ingest.chunker import Chunker
from vstream.stream.stages import StreamStages
from vstream.track.gallery import PeopleGallery

FPS, GOP, FRAMES = 10, 10, 150
#: the walker crosses the view in frames [WALK_IN, WALK_OUT)
WALK_IN, WALK_OUT = 20, 110


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """15 s of a grey wall at 10 fps (H.264, a keyframe every second), a darker figure
    walking across it from frame WALK_IN on (in view until about frame 107)."""
    path = tmp_path_factory.mktemp("camera") / "camera.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.options = {"g": str(GOP), "keyint_min": str(GOP), "sc_threshold": "0"}
        for i in range(FRAMES):
            image = np.full((120, 160, 3), 128, np.uint8)
            if WALK_IN <= i < WALK_OUT:  # walks in at the left edge, out at the right
                x = 2 * (i - WALK_IN) - 16
                image[40:100, max(0, x) : max(0, x + 16)] = 112
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


class DarkFigureModel:
    """Finds the dark figure on the grey wall: one person box, one appearance."""

    model_version = "dark-figure"
    input_size = (160, 120)
    track_thresholds: dict = {}
    face_identity = None
    pipelined = False

    def frame_size(self, width: int, height: int) -> tuple[int, int]:
        return width, height

    def analyze(self, images: np.ndarray) -> list[FrameAnalysis]:
        out = []
        for image in images:
            ys, xs = np.nonzero(image[..., 0] < 120)
            if len(xs) < 50:
                out.append(FrameAnalysis(Detections.empty(EMBED_DIM)))
                continue
            box = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
            embedding = np.zeros((1, EMBED_DIM), np.float32)
            embedding[0, 0] = 1.0
            out.append(FrameAnalysis(Detections(box, np.array([0.9], np.float32),
                                                np.array([PERSON], np.int32), None, embedding)))
        return out


def test_enter_and_leave_come_with_the_chunks_that_decide_them_while_the_scene_is_open(
        camera: Path) -> None:
    stages = StreamStages("cam", FPS, shots="fast", model=DarkFigureModel(),
                          gallery=PeopleGallery("dark-figure", 0.5))
    chunks = list(Chunker(str(camera), "cam"))
    assert len(chunks) == FRAMES // GOP
    outs = []
    for k, chunk in enumerate(chunks):
        if k == 4:  # the worker saves and restores stages between chunks: nothing is lost
            stages = StreamStages.restore(stages.snapshot(), FPS, shots="fast",
                                          model=DarkFigureModel(),
                                          gallery=stages.analyzer.identities.gallery)
        outs.append(stages.push(chunk))
    end = stages.finish()

    by_push = [[(e.frame, e.kind, e.person_id, e.people) for e in o.events] for o in outs]
    # enter: where the figure's track was confirmed (its second detection, frame 24 at 5
    # analysed frames per second), output with the chunk in which the track got its 4th
    # detection and so its identity (frame 30)
    assert by_push[3] == [(24, "enter", "p1", 1), (30, "count", "", 1)]
    # leave: at the last frame it was seen, once it has been unseen for more than 1 s
    assert by_push[11] == [(106, "leave", "p1", 0), (118, "count", "", 0)]
    assert sum(map(len, by_push)) == 4
    # the camera never cuts: its one scene closes at the end, after every event
    assert not any(o.scenes for o in outs)
    [scene] = [a.scene for a in end.scenes]
    assert (scene.start_frame, scene.end_frame, scene.people) == (0, FRAMES - 1, ("p1",))
    assert end.events == []


def test_sent_in_parts_the_events_come_within_a_part_and_are_the_same(camera: Path) -> None:
    def run(chunks, restore_after: int) -> tuple[list, list]:
        stages = StreamStages("cam", FPS, shots="fast", model=DarkFigureModel(),
                              gallery=PeopleGallery("dark-figure", 0.5))
        outs = []
        for chunk in chunks:
            outs.append((chunk, stages.push(chunk)))
            if chunk.seq == restore_after:  # another worker takes over mid-GOP
                stages = StreamStages.restore(stages.snapshot(), FPS, shots="fast",
                                              model=DarkFigureModel(),
                                              gallery=stages.analyzer.identities.gallery)
        end = stages.finish()
        events = [(e.frame, e.kind, e.person_id, e.people)
                  for _, o in outs for e in o.events] + [(e.frame, e.kind, e.person_id, e.people)
                                                          for e in end.events]
        return outs, events

    _, whole = run(list(Chunker(str(camera), "cam")), -1)
    parts = list(Chunker(str(camera), "cam", part_s=0.2))
    assert len(parts) == FRAMES // 2 and parts[12].continues
    outs, parted = run(parts, 12)
    assert parted == whole
    # the enter is decided at frame 30: it comes with the part holding frame 30 (or, for the
    # two frames an x264 stream's B-frames hold back, the next one), not with the GOP's end (39)
    [(chunk, _)] = [(c, o) for c, o in outs if any(e.kind == "enter" for e in o.events)]
    assert chunk.first_frame <= 32
