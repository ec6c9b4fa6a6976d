"""How unified-mnv2-917e8ea7, the shipped student from 2026-12-04 until its network with a new mask
head (unified-mnv2-3329bbbc.py) replaced it on 2026-12-05 (docs/models.md "Face identity: SFace,
and the student it lets ship"), was made:
`.venv/bin/python models/recipes/unified-mnv2-917e8ea7.py OUT.safetensors`. The recipe of the
shipped student (unified-mnv2-50d60e27.py) with one change: the backbone's layers from
features.11 on are trained with the heads (`tuned_from=11`, at a tenth of the heads' rate; the
scene tags held to ImageNet's by a KL term). Since commit 7ed4207 the distillation trains the
person heatmap on bodies only (the face rule's head-and-shoulders boxes left out); at d39bb90,
before it, the same recipe made unified-mnv2-22556a77 ("Tuning the backbone's upper layers"); since
6b1976f (stride-4 mask head, the mask teacher kept to people) it makes unified-mnv2-ab770b86
("The mask teacher's stray regions, and a stride-4 mask").
The shipped file is the one this recipe made at 3bb8d8f (its thresholds then set to 0.45 / 0.3);
since then the mask head (6b1976f; two separable steps, 2026-12-05), the mask's loss (the overlap
term, 2026-12-05) and the embedding head's target (SFace instead of dlib, 30d1ca6) changed, so
running it now makes another network. The distillation records score thresholds 0.2/0.15; the person threshold chosen on the
validation halves is 0.45 (face 0.3).

42-48 min on two cores (2026-12-04, 78-82 s an epoch on a quiet machine); deterministic for the
seed (0) on the same machine and packages.
"""

import logging
import pathlib
import runpy
import sys

from vstream.detect.augment import Augmentation
from vstream.detect.distill import distill
from vstream.detect.teachers.model import TeacherModel

# the shipped student's footage and photographs, unchanged
SHIPPED = runpy.run_path(str(pathlib.Path(__file__).with_name("unified-mnv2-50d60e27.py")))
VIDEOS, PHOTOS = SHIPPED["VIDEOS"], SHIPPED["PHOTOS"]

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    result = distill([str(p) for p in VIDEOS + PHOTOS], sys.argv[1], TeacherModel(), epochs=30,
                     augment=Augmentation(whole_frame_p=0.4), tuned_from=11)
    print(result.model_version, result.train_frames, result.loss_before, result.loss_after)
