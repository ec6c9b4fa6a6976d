"""Evaluation and synthetic data: how well the stages do, measured against references.

`people` (people IDs against dlib's face clusters, and the gallery threshold calibrated on
them), `detection` (a student network against its teachers on held-out frames), `mot` (CLEAR
MOT and IDF1 tracking scores) and `synthetic_tracks` (tracking sequences with ground truth).

Only `vstream train`, `vstream bench` and the tests import this package; runtime code never does
(tests/test_layers.py checks).
"""
