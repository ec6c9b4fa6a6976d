"""The BlazeFace full-range teacher: the FlatBuffer reader and the torch port against the TFLite
interpreter running the same file (recorded in tests/data/blazeface_reference.json, made as
tests/data/README.md says), and the detector's API.

The opencv-doc frames of the reference skip, saying so, where opencv-doc is not installed.
"""

from __future__ import annotations

import collections
import json
import pathlib

import av
import cv2
import numpy as np
import pytest

from vstream.detect import labels
from vstream.detect.teachers import blazeface, tflite

DATA = pathlib.Path(__file__).parents[2] / "data"
FOOTAGE = pathlib.Path("/usr/share/doc/opencv-doc/examples/data")


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads((DATA / "blazeface_reference.json").read_text())


@pytest.fixture(scope="module")
def graph() -> tflite.TfliteGraph:
    return tflite.read_model(blazeface.model_path())


@pytest.fixture(scope="module")
def detector() -> blazeface.BlazeFaceDetector:
    return blazeface.BlazeFaceDetector(score_threshold=0.3)


def _frame(key: str, teacher_frames: dict[int, np.ndarray]) -> np.ndarray:
    """The frame a reference key names (as make_blazeface_reference.py decoded it)."""
    source, _, index = key.partition("#")
    if source == "test.mp4":
        return teacher_frames[int(index)]
    if not (FOOTAGE / "vtest.avi").is_file():
        pytest.skip(f"no {FOOTAGE}: apt-get install opencv-doc")
    if source == "vtest.avi":
        with av.open(str(FOOTAGE / source)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i == int(index):
                    return frame.to_ndarray(format="rgb24")
    return cv2.cvtColor(cv2.imread(str(FOOTAGE / source)), cv2.COLOR_BGR2RGB)


# ---------------------------------------------------------------- the file, read without TensorFlow

def test_reader_finds_the_operators_the_interpreter_runs(graph: tflite.TfliteGraph, reference: dict) -> None:
    ops = collections.Counter(op.op for op in graph.operators)
    assert dict(ops) == reference["meta"]["interpreter_ops"]
    (x,) = graph.inputs
    assert graph.tensors[x].shape == (1, blazeface.INPUT_SIZE, blazeface.INPUT_SIZE, 3)
    assert [graph.tensors[i].shape for i in graph.outputs] == [
        (1, blazeface.NUM_ANCHORS, 4 + 2 * blazeface.NUM_KEYPOINTS), (1, blazeface.NUM_ANCHORS, 1)]
    # every weight is float16 behind a DEQUANTIZE; the int32 constants are paddings and sizes
    kinds = collections.Counter(graph.tensors[i].dtype for i in graph.constants)
    assert kinds == {np.float16: ops["DEQUANTIZE"], np.int32: ops["PAD"] + ops["RESIZE_BILINEAR"]}


def test_reader_decodes_operator_options(graph: tflite.TfliteGraph) -> None:
    first = graph.operators[[op.op for op in graph.operators].index("CONV_2D")]
    assert graph.tensors[first.inputs[0]].name == "input"
    assert (first.options["stride_h"], first.options["stride_w"], first.options["padding"]) == (2, 2, tflite.SAME)
    resizes = [op for op in graph.operators if op.op == "RESIZE_BILINEAR"]
    assert all(op.options["half_pixel_centers"] and not op.options["align_corners"] for op in resizes)
    pools = [op.options for op in graph.operators if op.op == "MAX_POOL_2D"]
    assert all((o["filter_height"], o["filter_width"], o["stride_h"]) == (2, 2, 2) for o in pools)


def test_reader_refuses_other_files(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "not.tflite"
    bad.write_bytes(b"\x10\x00\x00\x00NOPE" + bytes(16))
    with pytest.raises(ValueError, match="not a TFLite model"):
        tflite.read_model(bad)


# ---------------------------------------------------------------- the port against the interpreter

def test_raw_outputs_and_detections_match_the_interpreter(reference: dict, detector: blazeface.BlazeFaceDetector,
                                                          teacher_frames: dict[int, np.ndarray]) -> None:
    frames = reference["frames"]
    keys = [k for k in frames if k.startswith("test.mp4") or (FOOTAGE / "vtest.avi").is_file()]
    inputs = np.stack([blazeface.letterbox(_frame(k, teacher_frames))[0] for k in keys])
    raw_boxes, raw_logits = detector.predict(inputs)
    for key, x, rb, rl in zip(keys, inputs, raw_boxes, raw_logits):
        ref = frames[key]
        assert x.mean() == pytest.approx(ref["input_mean"], abs=1e-4), key  # the same pixels
        top = np.array(ref["top_anchors"])
        # recorded 2026-12-02: at most 1e-5 on logits and 7e-5 input pixels on regressors
        np.testing.assert_allclose(rl[top, 0], ref["top_logits"], atol=1e-3, err_msg=key)
        np.testing.assert_allclose(rb[top], ref["top_regressors"], atol=1e-2, err_msg=key)
        boxes, points, scores = blazeface.decode(rb, rl)
        for threshold in (0.5, 0.3):
            want = ref[f"detections@{threshold}"]
            above = scores >= threshold
            b, p, s = blazeface.weighted_nms(boxes[above], points[above], scores[above])
            assert len(s) == len(want), (key, threshold)
            if want:
                np.testing.assert_allclose(b, [d["xyxy"] for d in want], atol=1e-4, err_msg=key)
                np.testing.assert_allclose(p, [d["keypoints"] for d in want], atol=1e-4, err_msg=key)
                np.testing.assert_allclose(s, [d["score"] for d in want], atol=1e-4, err_msg=key)


def test_detect_maps_the_reference_back_to_frame_pixels(reference: dict, detector: blazeface.BlazeFaceDetector,
                                                        teacher_frames: dict[int, np.ndarray]) -> None:
    keys = [k for k in reference["frames"] if k.startswith("test.mp4")]
    found = detector.detect([teacher_frames[int(k.split("#")[1])] for k in keys])
    for key, dets in zip(keys, found):
        frame = teacher_frames[int(key.split("#")[1])]
        _, scale, left, top = blazeface.letterbox(frame)
        want = reference["frames"][key]["detections@0.3"]
        assert len(dets) == len(want)
        assert (dets.class_id == labels.FACE).all()
        assert dets.data["keypoints"].shape == (len(want), blazeface.NUM_KEYPOINTS, 2)
        h, w = frame.shape[:2]
        px = (np.array([d["xyxy"] for d in want]).reshape(-1, 2, 2) * blazeface.INPUT_SIZE - [left, top]) / scale
        np.testing.assert_allclose(dets.xyxy, np.clip(px, 0, [w, h]).reshape(-1, 4), atol=1e-2)
        assert (np.diff(dets.confidence) <= 0).all()


# ---------------------------------------------------------------- decoding, NMS and the API

def test_anchor_centres_follow_the_output_grid() -> None:
    c = blazeface.anchor_centres()
    assert c.shape == (2304, 2)
    step = 1 / blazeface.GRID_SIZE
    np.testing.assert_allclose(c[0], [step / 2, step / 2])
    np.testing.assert_allclose(c[1], [1.5 * step, step / 2])  # columns first within a row
    np.testing.assert_allclose(c[blazeface.GRID_SIZE], [step / 2, 1.5 * step])


@pytest.mark.parametrize(("boxes", "scores", "want_boxes", "want_scores"), [
    # two overlapping boxes merge into their score-weighted mean, with the top score
    ([[0, 0, 10, 10], [1, 0, 11, 10]], [0.9, 0.3], [[0.25, 0, 10.25, 10]], [0.9]),
    # IoU 1/3 is above 0.3: merged; disjoint boxes stay apart, highest first
    ([[0, 0, 10, 10], [5, 0, 15, 10], [50, 50, 60, 60]], [0.5, 0.5, 0.8],
     [[50, 50, 60, 60], [2.5, 0, 12.5, 10]], [0.8, 0.5]),
    ([], [], np.zeros((0, 4)), []),
])
def test_weighted_nms(boxes: list, scores: list, want_boxes: list, want_scores: list) -> None:
    b = np.array(boxes, np.float32).reshape(-1, 4)
    points = np.repeat(b[:, None, :2], 2, 1)  # keypoints at each box's top-left corner
    got_b, got_p, got_s = blazeface.weighted_nms(b, points, np.array(scores, np.float32))
    np.testing.assert_allclose(got_b, np.array(want_boxes).reshape(-1, 4), atol=1e-6)
    np.testing.assert_allclose(got_p[:, 0], got_b[:, :2], atol=1e-6)
    np.testing.assert_allclose(got_s, want_scores)


def test_letterbox_keeps_the_aspect_ratio_and_centres() -> None:
    frame = np.full((90, 160, 3), 255, np.uint8)
    x, scale, left, top = blazeface.letterbox(frame)
    assert x.shape == (192, 192, 3) and scale == pytest.approx(1.2) and (left, top) == (0, 42)
    assert x[0, 0, 0] == -1.0 and x[top, 0, 0] == 1.0 and x[top + 108, 0, 0] == -1.0


def test_detect_batches_frames_of_any_size_alike(detector: blazeface.BlazeFaceDetector,
                                                 teacher_frames: dict[int, np.ndarray]) -> None:
    frames = [teacher_frames[636], teacher_frames[901][:150, :300].copy(), np.zeros((20, 30, 3), np.uint8)]
    together = detector.detect(frames)
    alone = [detector.detect_one(f) for f in frames]
    assert [len(d) for d in together] == [len(d) for d in alone]
    for a, b in zip(together, alone):
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1e-3)
    assert len(together[0]) >= 1 and len(together[2]) == 0
    assert detector.detect([]) == []


@pytest.mark.parametrize(("kwargs", "frames", "error"), [
    ({"score_threshold": 1.0}, None, "score_threshold"),
    ({"nms_iou": 0.0}, None, "nms_iou"),
    ({"batch_size": 0}, None, "batch_size"),
    ({}, [np.zeros((10, 10, 3), np.float32)], "uint8"),
    ({}, [np.zeros((10, 10), np.uint8)], "uint8"),
])
def test_bad_arguments_say_what_to_pass(kwargs: dict, frames: list | None, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        blazeface.BlazeFaceDetector(**kwargs).detect(frames or [])
