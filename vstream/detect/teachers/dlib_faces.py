"""dlib's frontal face detector and its 128-d ResNet face embeddings (face_recognition's models).

The model files come from the `face-recognition-models` wheel's `models/` folder, found through
the wheel's RECORD (`vstream.weights.package_file`): `import face_recognition_models` needs
`pkg_resources`, absent from a fresh venv (DESIGN.md, "Models without a model hub").

`embed` does what `face_recognition.face_encodings(image, boxes, num_jitters=1, model="small")`
does: the 5-point shape predictor places the face in its box, dlib aligns a 150x150 face chip
from those points and the ResNet maps it to 128 numbers. Two vectors of the same person are
usually less than 0.6 apart (Euclidean, on the raw vectors, which are not unit length: norms
around 1.4 were seen on the test video).
"""

from __future__ import annotations

import pathlib

import dlib
import numpy as np

from vstream.detect import labels
from vstream.detections import Detections
from vstream.weights import package_file

MODELS_DISTRIBUTION = "face-recognition-models"
SHAPE_PREDICTOR_FILE = "face_recognition_models/models/shape_predictor_5_face_landmarks.dat"
FACE_RECOGNITION_FILE = "face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat"

#: dimension of dlib's face embedding
DLIB_EMBED_DIM = 128
#: distance below which two dlib embeddings are "the same person" (dlib's LFW operating point)
SAME_PERSON_DISTANCE = 0.6


def model_path(relative_path: str) -> pathlib.Path:
    """A file of the face-recognition-models wheel (VStreamError naming the fix if missing)."""
    return package_file(MODELS_DISTRIBUTION, relative_path)


def _check_image(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 \
            or image.shape[2] != 3:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image)
        raise ValueError(f"image must be a uint8 numpy array (H, W, 3) RGB, got {got}")
    # dlib's numpy bridge needs C-contiguous rows
    return np.ascontiguousarray(image)


class DlibFaces:
    """dlib HOG face detector + 5-point shape predictor + ResNet face embedding.

    upsample: how many times the detector doubles the image before searching; its window is
        80x80 px, so each doubling halves the smallest face found (1 on a 384x224 frame finds
        faces down to about 40 px, i.e. 17 px in the 160x90 source).
    """

    def __init__(self, upsample: int = 1) -> None:
        if upsample < 0:
            raise ValueError(f"upsample must be >= 0, got {upsample}")
        self.upsample = int(upsample)
        self._detector = dlib.get_frontal_face_detector()
        self._shapes = dlib.shape_predictor(str(model_path(SHAPE_PREDICTOR_FILE)))
        self._encoder = dlib.face_recognition_model_v1(str(model_path(FACE_RECOGNITION_FILE)))

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

    def embed(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """dlib embeddings (n, 128) float32 of the faces in `boxes` (n, 4) xyxy pixels of `image`
        (uint8 RGB (H, W, 3)); no jitter, so the result is deterministic."""
        image = _check_image(image)
        boxes = np.asarray(boxes)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"boxes must be (n, 4) x1, y1, x2, y2, got {boxes.shape}")
        if len(boxes) == 0:
            return np.zeros((0, DLIB_EMBED_DIM), np.float32)
        shapes = dlib.full_object_detections()
        for x1, y1, x2, y2 in np.rint(boxes).astype(np.int64):
            # inclusive right/bottom, as dlib's detector writes its own rectangles
            shapes.append(self._shapes(image, dlib.rectangle(int(x1), int(y1), int(x2) - 1, int(y2) - 1)))
        # one call for all faces of the frame: dlib batches the chips through the ResNet
        vectors = self._encoder.compute_face_descriptor(image, shapes, 1)
        return np.asarray([np.asarray(v) for v in vectors], np.float32).reshape(len(boxes), DLIB_EMBED_DIM)
