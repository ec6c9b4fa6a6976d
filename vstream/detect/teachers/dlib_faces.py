"""dlib's frontal face detector (HOG + linear SVM): the tests' independent reference for MTCNN.

It is in no model: the teachers find faces with MTCNN and identify them with SFace
(`vstream.detect.face_identity`). dlib's ResNet face embeddings were the teachers' identity until
2026-12-04 and went with it (docs/models.md, "Face identity: SFace"). The detector is built into
dlib: no model file.
"""

from __future__ import annotations

import dlib
import numpy as np

from vstream.detect import labels
from vstream.detections import Detections


def _check_image(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 \
            or image.shape[2] != 3:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image)
        raise ValueError(f"image must be a uint8 numpy array (H, W, 3) RGB, got {got}")
    # dlib's numpy bridge needs C-contiguous rows
    return np.ascontiguousarray(image)


class DlibFaces:
    """dlib's HOG face detector.

    upsample: how many times the detector doubles the image before searching; its window is
        80x80 px, so each doubling halves the smallest face found (1 on a 384x224 frame finds
        faces down to about 40 px, i.e. 17 px in the 160x90 source).
    """

    def __init__(self, upsample: int = 1) -> None:
        if upsample < 0:
            raise ValueError(f"upsample must be >= 0, got {upsample}")
        self.upsample = int(upsample)
        self._detector = dlib.get_frontal_face_detector()

    def detect(self, image: np.ndarray, upsample: int | None = None) -> Detections:
        """Faces in one uint8 RGB frame (H, W, 3): class labels.FACE, boxes clipped to the frame,
        confidence the detector's SVM score (> 0; not a probability), highest first.
        `upsample` overrides the instance's."""
        image = _check_image(image)
        h, w = image.shape[:2]
        rects, scores, _ = self._detector.run(image, self.upsample if upsample is None else upsample, 0.0)
        xyxy = np.array([[r.left(), r.top(), r.right() + 1, r.bottom() + 1] for r in rects],
                        np.float32).reshape(-1, 4)
        # dlib's rectangles are inclusive pixel ranges (hence +1) and may reach past the border
        xyxy = np.clip(xyxy, 0, [w, h, w, h])
        order = np.argsort(-np.asarray(scores, np.float32), kind="stable")
        return Detections(xyxy[order], confidence=np.asarray(scores, np.float32)[order],
                          class_id=np.full(len(rects), labels.FACE, np.int32))
