"""How unified-mnv2-3329bbbc, the shipped student (vstream/detect/data/unified.safetensors since
2026-12-05, docs/models.md "A person mask that keeps outlines"), was made:
`.venv/bin/python models/recipes/unified-mnv2-3329bbbc.py OUT.safetensors`.

It is unified-mnv2-917e8ea7 (models/recipes/unified-mnv2-917e8ea7.py; the file as shipped at
4b3f51d, which this recipe takes from git) with its person mask head made anew and trained alone
(`distill(retrain=("mask",))`): the stride-4 head with two depthwise-separable steps at 32
channels (`heads.MaskHead`), on the teacher's masks kept to people, against BCE plus the per-frame
soft-IoU term (`distill_loss.soft_overlap_loss`). Every other weight is 917e8ea7's, bit for bit:
its boxes, faces, embeddings, tags and thresholds (0.45 / 0.3) are unchanged.

25 min on two cores (2026-12-05, 100-160 s an epoch); deterministic for the seed (0) on the same
machine and packages.
"""

import logging
import pathlib
import runpy
import subprocess
import sys
import tempfile

from vstream.detect.augment import Augmentation
from vstream.detect.distill import distill
from vstream.detect.distill_loss import LossWeights
from vstream.detect.teachers.model import TeacherModel

HERE = pathlib.Path(__file__).parent
# the footage and photographs every shipped student learnt from
SHIPPED = runpy.run_path(str(HERE / "unified-mnv2-50d60e27.py"))
VIDEOS, PHOTOS = SHIPPED["VIDEOS"], SHIPPED["PHOTOS"]
#: the commit whose shipped file is unified-mnv2-917e8ea7 as this run read it (large_source_scale recorded)
START_COMMIT = "4b3f51d"

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        start = pathlib.Path(tmp) / "unified-mnv2-917e8ea7.safetensors"
        start.write_bytes(subprocess.run(
            ["git", "show", f"{START_COMMIT}:vstream/detect/data/unified.safetensors"],
            cwd=HERE, check=True, capture_output=True).stdout)
        result = distill([str(p) for p in VIDEOS + PHOTOS], sys.argv[1], TeacherModel(), epochs=12,
                         start_from=start, retrain=("mask",), augment=Augmentation(whole_frame_p=0.4),
                         weights=LossWeights(heatmap=0, size=0, offset=0, mask=1, mask_overlap=1,
                                             embedding=0, tags=0),
                         score_threshold=(0.45, 0.3))
    print(result.model_version, result.train_frames, result.loss_before, result.loss_after)
