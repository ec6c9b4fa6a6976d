"""`UnifiedModel` on a CPU runs through onnxruntime: same analysis as the torch network on real
frames, graphs cached per network and frame size."""

from __future__ import annotations

import os
import pathlib

import av
import numpy as np
import pytest

from vstream.detect.checkpoint import load_unified, read_unified
from vstream.detect.network import TorchRuntime
from vstream.detect.unified_onnx import UnifiedOnnx
from vstream.weights import test_video_path


def _frames(size: tuple[int, int], start: int, n: int) -> np.ndarray:
    with av.open(str(test_video_path())) as c:
        decoded = (f.to_ndarray(format="rgb24", width=size[0], height=size[1])
                   for f in c.decode(video=0))
        return np.stack([f for i, f in zip(range(start + n), decoded) if i >= start])


@pytest.fixture()
def cache(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    monkeypatch.setenv("VSTREAM_CACHE_DIR", str(tmp_path))
    return tmp_path


@pytest.mark.integration  # the shipped model on real frames
def test_onnxruntime_analyses_real_frames_as_torch_does(cache: pathlib.Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # a low threshold: many boxes to compare, faces among them to embed
    model = load_unified(batch_size=4, score_threshold=0.1)
    assert isinstance(model.runtime, UnifiedOnnx)
    size = model.frame_size(160, 90)
    # frames 2000.. show people; 6 frames in batches of 4 and 2
    frames = _frames(size, 2000, 6)
    got = model.analyze(frames)
    assert list(cache.iterdir()) == [model.runtime.graph_directory(size)]
    # the torch network, fp32, as on a GPU
    monkeypatch.setattr(model, "runtime", TorchRuntime(read_unified().net))
    want = model.analyze(frames)
    assert sum(len(w.detections) for w in want) >= 6
    for g, w in zip(got, want):
        assert len(g.detections) == len(w.detections)
        np.testing.assert_array_equal(g.detections.class_id, w.detections.class_id)
        np.testing.assert_allclose(g.detections.xyxy, w.detections.xyxy, atol=0.05)
        np.testing.assert_allclose(g.detections.confidence, w.detections.confidence, atol=1e-4)
        np.testing.assert_allclose(g.detections.embedding, w.detections.embedding, atol=1e-4)
        np.testing.assert_allclose(g.tag_scores, w.tag_scores, atol=1e-5)
        np.testing.assert_allclose(g.person_mask, w.person_mask, atol=1e-4)


@pytest.mark.integration  # exports the network
def test_graphs_are_cached_per_network_and_frame_size(cache: pathlib.Path) -> None:
    model = load_unified(score_threshold=1.0)
    frames = np.zeros((1, 220, 392, 3), np.uint8)
    model.analyze(frames)
    # a second model of the same weights opens the same graphs: nothing is exported again
    again = load_unified(score_threshold=1.0)
    folder = again.runtime.graph_directory((392, 220))
    stamp = (folder / "dense.onnx").stat().st_mtime_ns
    result = again.analyze(frames)[0]
    assert (folder / "dense.onnx").stat().st_mtime_ns == stamp
    assert len(result.detections) == 0 and result.detections.embedding.shape == (0, 128)
    # another size is another export
    model.analyze(np.zeros((1, 254, 338, 3), np.uint8))
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        (folder.name, model.runtime.graph_directory((338, 254)).name))


@pytest.mark.integration  # exports the network, then a child process
def test_a_process_whose_graphs_are_cached_never_imports_torch(cache: pathlib.Path) -> None:
    """torch takes 1.3-2.5 s to import on two cores: `vstream index --model unified` must not
    pay it once the graphs are exported."""
    import subprocess
    import sys

    load_unified().analyze(_frames((392, 220), 2000, 2))  # exports the graphs
    script = ("import sys, numpy as np\n"
              "from vstream.detect.models import load_frame_model\n"
              "model = load_frame_model('unified')\n"
              "frames = np.zeros((2, 220, 392, 3), np.uint8)\n"
              "frames[:, 60:160, 150:250] = 200\n"
              "model.analyze(frames)\n"
              "print(sorted(m for m in ('torch', 'scipy.optimize') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "VSTREAM_CACHE_DIR": str(cache)})
    assert done.returncode == 0, done.stderr
    assert "torch" not in done.stdout, done.stdout


def test_vnni_is_read_from_the_cpu_flags() -> None:
    from vstream.detect.quantize import has_vnni

    assert has_vnni("fpu sse4_2 avx2 avx512f avx512_vnni amx_int8")
    assert has_vnni("fpu avx2 avx_vnni")
    assert not has_vnni("fpu sse4_2 avx2 avx512f")  # an AMD EPYC before Zen 4
    assert not has_vnni("")


@pytest.mark.integration  # exports the network and its int8 copy, then analyses real frames
def test_int8_finds_the_people_and_faces_fp32_finds(cache: pathlib.Path) -> None:
    from vstream.detect.labels import FACE, PERSON
    from vstream.kernels import iou_matrix

    fp32 = load_unified(batch_size=8)
    int8 = load_unified(batch_size=8, precision="int8")
    size = fp32.frame_size(160, 90)
    frames = np.concatenate([_frames(size, 2000, 8), _frames(size, 4230, 8)])  # people, a close-up
    want, got = fp32.analyze(frames), int8.analyze(frames)
    assert (int8.runtime.graph_directory(size) / "dense-int8.onnx").is_file()
    found = total = 0
    mask_overlap = []
    for w, g in zip(want, got):
        for cls in (PERSON, FACE):
            a, b = w.detections.xyxy[w.detections.class_id == cls], g.detections.xyxy[g.detections.class_id == cls]
            total += len(a)
            if len(a) and len(b):
                found += int((iou_matrix(a, b).max(axis=1) >= 0.5).sum())
        mine, theirs = g.person_mask >= 0.5, w.person_mask >= 0.5
        if theirs.any():
            mask_overlap.append((mine & theirs).sum() / (mine | theirs).sum())
    print(f"int8 found {found} of fp32's {total} boxes; mask IoU with fp32's {np.mean(mask_overlap):.3f}")
    assert total >= 16 and found >= 0.9 * total
    assert np.mean(mask_overlap) >= 0.85


def test_the_precision_setting_reaches_the_runtime() -> None:
    from vstream.detect.models import load_frame_model

    assert load_frame_model("unified", None, "int8").runtime.int8
    assert not load_frame_model("unified", None, "fp32").runtime.int8
    assert not load_frame_model("unified").runtime.int8  # auto: fp32 on a CPU


@pytest.mark.integration  # the shipped model on real frames
def test_low_person_boxes_are_reported_apart_and_repeat_no_reported_box(cache: pathlib.Path) -> None:
    from vstream.detect.box_decode import DUPLICATE_IOU
    from vstream.detect.labels import PERSON
    from vstream.detect.unified_model import LOW_PERSON_SCORE
    from vstream.kernels import iou_matrix

    model = load_unified()
    vtest = pathlib.Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
    if not vtest.exists():
        pytest.skip("vtest.avi (Debian opencv-doc) is missing")
    size = model.frame_size(768, 576)
    with av.open(str(vtest)) as c:
        frames = np.stack([f.to_ndarray(format="rgb24", width=size[0], height=size[1])
                           for i, f in zip(range(160), c.decode(video=0)) if i % 20 == 0])
    threshold = model.track_thresholds[PERSON][0]
    lows = 0
    for a in model.analyze(frames):
        low = a.low_detections
        lows += len(low)
        assert set(low.class_id.tolist()) <= {PERSON}
        assert np.all((low.confidence >= LOW_PERSON_SCORE) & (low.confidence < threshold))
        people = a.detections.xyxy[a.detections.class_id == PERSON]
        if len(low) and len(people):
            assert iou_matrix(low.xyxy, people).max() < DUPLICATE_IOU
    assert lows > 0  # a camera's walkers in groups: some score below the threshold
