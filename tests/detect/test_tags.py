"""Frame tags: the shipped tag map's validation, and tags of real photos and real video frames."""

from __future__ import annotations

import av
import numpy as np
import pytest

from vstream.detect.imagenet import NUM_CLASSES
from vstream.detect.tag_map import default_tag_map, parse_tag_map
from vstream.detect.tags import FrameTagger
from vstream.weights import test_video_path


def test_default_tag_map() -> None:
    tag_map = default_tag_map()
    assert tag_map.matrix.shape == (NUM_CLASSES, len(tag_map.tags))
    assert set(tag_map.kinds) == {"object", "scene"}
    for tag in ("dog", "cat", "guitar", "microphone", "car", "stage", "outdoor", "water"):
        assert tag in tag_map.tags
    # every dog breed (151..268) counts for "dog", and nothing else does
    dog = tag_map.matrix[:, tag_map.tags.index("dog")]
    assert dog[151:269].all() and dog.sum() == 118


@pytest.mark.parametrize(
    "data, message",
    [
        ({"object": {"cat": ["tabby", "tabbby"]}}, "tabbby"),
        ({"object": {"bird": ["crane"]}}, "ambiguous"),
        ({"object": {"cat": []}}, "non-empty"),
        ({"object": {"cat": "tabby"}}, "non-empty"),
        ({"object": {"cat": ["tabby", "tabby"]}}, "twice"),
        ({"object": {"cat": ["tabby"]}, "scene": {"cat": ["stage"]}}, "defined twice"),
        ({"objects": {"cat": ["tabby"]}}, "kinds"),
    ],
)
def test_bad_tag_map_raises(data: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_tag_map(data)


def test_tagger_argument_checks() -> None:
    with pytest.raises(ValueError, match="threshold"):
        FrameTagger(threshold=1.5)
    with pytest.raises(ValueError, match="top_k"):
        FrameTagger(top_k=0)


def test_tags_chelsea_as_cat() -> None:
    skimage_data = pytest.importorskip("skimage.data")
    tags = FrameTagger().tag(skimage_data.chelsea()[None])
    assert tags[0] and tags[0][0][0] == "cat"


@pytest.mark.integration  # a whole real video or model run
def test_tags_of_real_video_frames() -> None:
    """Frames every 10 s of the real music video; prints what comes out (run with -s)."""
    with av.open(str(test_video_path())) as container:
        frames = np.stack([
            f.to_ndarray(format="rgb24")
            for i, f in enumerate(container.decode(video=0)) if i % 250 == 0
        ])
    tagger = FrameTagger(batch_size=8)  # 22 frames: exercises a partial last batch
    tags = tagger.tag(frames)
    assert len(tags) == len(frames)
    vocabulary = set(tagger.tag_map.tags)
    for i, frame_tags in enumerate(tags):
        print(f"frame {i * 250}: {[(t, round(s, 2)) for t, s in frame_tags]}")
        assert len(frame_tags) <= tagger.top_k
        for tag, score in frame_tags:
            assert tag in vocabulary and tagger.threshold <= score <= 1.0 and score > 0.0
    # batching does not change the answer
    np.testing.assert_allclose(
        FrameTagger(batch_size=1).scores(frames[:3]), tagger.scores(frames[:3]), atol=1e-5
    )


def test_empty_batch() -> None:
    assert FrameTagger().tag(np.zeros((0, 90, 160, 3), np.uint8)) == []


def test_frames_over_the_largest_area_are_tagged_shrunk_to_it() -> None:
    cat = pytest.importorskip("skimage.data").chelsea()  # 300x451
    big = np.repeat(np.repeat(cat, 2, axis=0), 2, axis=1)[None]  # 600x902: over the area
    capped = FrameTagger(size=None, max_area=451 * 300)
    # the network sees the frame at the capped area, aspect kept: as if asked for that size
    np.testing.assert_allclose(capped.scores(big), FrameTagger(size=(300, 451)).scores(big), atol=1e-6)
    assert not np.allclose(capped.scores(big), FrameTagger(size=None).scores(big), atol=1e-3)
    # frames within the area keep their own size
    np.testing.assert_array_equal(capped.scores(cat[None]), FrameTagger(size=None).scores(cat[None]))
