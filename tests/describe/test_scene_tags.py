"""Scene tags from sampled frames of the real test video."""

from __future__ import annotations

import numpy as np

from vstream.chunker import Chunker
from vstream.decode.ffmpeg import FfmpegDecoder
from vstream.decode.frames import FrameBatch
from vstream.describe.scene_tags import MAX_SAMPLES, SAMPLE_SIZE, SceneTagger
from vstream.detect.tags import default_tag_map
from vstream.segment.scenes import Scene
from vstream.weights import test_video_path


def test_decoder_samples_every_nth_frame_at_the_sample_size() -> None:
    decoder = FfmpegDecoder((48, 27), sample_size=(64, 64), sample_every=5)
    chunk = next(iter(Chunker(str(test_video_path()), "t")))
    batch, samples = decoder.decode_sampled(chunk)
    assert samples.images.shape[1:] == (64, 64, 3)
    assert samples.frame_index.tolist() == [i for i in batch.frame_index.tolist() if i % 5 == 0]
    keep = np.isin(batch.frame_index, samples.frame_index)
    assert samples.pts.tolist() == batch.pts[keep].tolist()


def test_every_scene_comes_back_once_with_vocabulary_tags() -> None:
    decoder = FfmpegDecoder((48, 27), sample_size=SAMPLE_SIZE, sample_every=5)
    tagger = SceneTagger()
    scenes, out = [], []
    for k, chunk in enumerate(Chunker(str(test_video_path()), "t")):
        if k == 12:
            break
        batch, samples = decoder.decode_sampled(chunk)
        tagger.observe(samples)
        # one scene per chunk: the chunk's frames
        start, end = int(batch.frame_index[0]), int(batch.frame_index[-1])
        scene = Scene(k, start, end, start / 25, (end + 1) / 25)
        scenes.append(scene)
        out += tagger.tag([scene])
    out += tagger.flush()
    assert [s.index for s in out] == [s.index for s in scenes]
    vocabulary = set(default_tag_map().tags)
    assert all(set(s.tags) <= vocabulary and len(s.tags) <= 3 for s in out)
    assert sum(1 for s in out if s.tags) >= len(out) // 2  # most scenes of the video get tags
    assert tagger.frames_tagged == len(scenes)  # short scenes: one classified frame each


def test_samples_held_for_an_endless_scene_stay_bounded() -> None:
    tagger = SceneTagger()
    image = np.zeros((1, 8, 8, 3), np.uint8)
    for i in range(0, 100_000, 5):
        tagger.observe(FrameBatch("t", image, np.array([i]), np.array([i]), 1))
        assert len(tagger._frames) <= MAX_SAMPLES
    indices = [idx for idx, _ in tagger._frames]
    assert indices[0] < 10_000 and indices[-1] > 90_000  # still spread over the whole scene
