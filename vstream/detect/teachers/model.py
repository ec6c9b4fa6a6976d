"""`TeacherModel`: the offline teachers as one `FrameModel` (`--model teachers`).

Per frame (384x224, `labels.ANALYSIS_SIZE`):

- faces: MTCNN (`teachers.mtcnn`), min face size 16 px. The frames are 160x90 sources upscaled
  2.4x, so 16 px is a 7 px face in the source, below which there is no face detail left. Measured
  on 408 frames of the test video (every 13th): min face size 12 / 16 / 20 / 24 found 254 / 253 /
  250 / 249 faces, 12 and 14 at about half the speed of 16 (a larger first pyramid level).
- face embeddings: dlib's 128-d ResNet vector (`teachers.dlib_faces`) of each MTCNN face,
  L2-normalised in `embedding`; the raw vector in data["dlib_embedding"] (dlib's 0.6 same-person
  distance is defined on raw vectors). dlib's shape predictor was trained on dlib detector boxes,
  which sit lower and narrower than MTCNN's (no forehead): each MTCNN box is mapped to a dlib-like
  box first (`DLIB_BOX_FROM_MTCNN`), which halved the median distance between the embedding from
  the MTCNN box and from dlib's own box of the same face (0.13 -> 0.07 on 136 faces).
- persons: OpenCV HOG pedestrians (`teachers.hog`), plus a head-and-shoulders box for every face
  that no HOG box contains (`head_and_shoulders`): a music video is mostly close-ups, which a
  64x128 whole-body detector cannot see. A person box carries the embedding of the face it
  contains (largest overlap) or an all-zero row when it contains none.

Speed at 384x224 on the development machine (2 CPU cores shared with other jobs, so the numbers
moved 3-5x with the load): MTCNN 25-40 frames/s in batches of 16 with the machine nearly idle,
HOG (upscale 1.5) 13 frames/s, dlib's detector (upsample 1) 26 frames/s; the whole model 2.6
frames/s at load 5 and 1.7 frames/s at load 8.6 (MTCNN 4.7, HOG 7.4 frames/s, 200 ms per dlib
embedding then). dlib's embedding (shape predictor + ResNet, one call per frame) and HOG dominate.
On every 26th frame of the test video (160 frames): 0.59 faces and 0.94 persons per frame
(0.36 HOG boxes, of which about half are walls and doorways; 56 person rows carry no face).
"""

from __future__ import annotations

import numpy as np
import torch

from vstream.detect import labels
from vstream.detect.analysis import EMBED_DIM, FrameAnalysis
from vstream.detect.teachers.dlib_faces import DlibFaces
from vstream.detect.teachers.hog import HogPeopleDetector
from vstream.detect.teachers.mtcnn import MTCNN
from vstream.detections import Detections

#: MTCNN min face size on ANALYSIS_SIZE frames (see the module docstring for the measurement)
MIN_FACE_SIZE = 16
#: (dx1, dy1, dx2, dy2) as fractions of the MTCNN box width/height that turn it into the box
#: dlib's detector would draw: medians over 136 faces both detected on the test video (y1 +0.145,
#: y2 -0.033, width +0.069), made left-right symmetric since a mirror image must map the same way
DLIB_BOX_FROM_MTCNN = (-0.035, 0.145, 0.035, -0.035)
#: head-and-shoulders box from a face box, in face widths (x) and heights (y): 3 face widths
#: across (shoulder to shoulder is about 2.5-3 head widths), from half a face above the face box
#: (hair, which MTCNN boxes cut) to two faces below it (shoulders and upper chest)
HEAD_AND_SHOULDERS = (1.0, 0.5, 1.0, 2.0)
#: a face is "inside" a person box when this fraction of its area is
FACE_INSIDE = 0.8


def head_and_shoulders(face_xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
    """Person boxes (n, 4) float32 around face boxes (n, 4) xyxy, clipped to a width x height
    frame: `HEAD_AND_SHOULDERS` face sizes left, above, right and below the face box."""
    f = np.asarray(face_xyxy, np.float32).reshape(-1, 4)
    fw, fh = f[:, 2] - f[:, 0], f[:, 3] - f[:, 1]
    left, up, right, down = HEAD_AND_SHOULDERS
    box = np.stack([f[:, 0] - left * fw, f[:, 1] - up * fh, f[:, 2] + right * fw, f[:, 3] + down * fh], 1)
    return np.clip(box, 0, [width, height, width, height]).astype(np.float32)


def face_coverage(faces: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(n_faces, n_boxes) fraction of each face box's area that lies inside each box."""
    faces = np.asarray(faces, np.float64).reshape(-1, 4)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    iw = np.minimum(faces[:, None, 2], boxes[None, :, 2]) - np.maximum(faces[:, None, 0], boxes[None, :, 0])
    ih = np.minimum(faces[:, None, 3], boxes[None, :, 3]) - np.maximum(faces[:, None, 1], boxes[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area = np.clip(faces[:, 2] - faces[:, 0], 0, None) * np.clip(faces[:, 3] - faces[:, 1], 0, None)
    return (inter / np.maximum(area, 1e-9)[:, None]).astype(np.float32)


def dlib_boxes(mtcnn_xyxy: np.ndarray) -> np.ndarray:
    """MTCNN face boxes (n, 4) -> the boxes dlib's detector would draw (`DLIB_BOX_FROM_MTCNN`)."""
    b = np.asarray(mtcnn_xyxy, np.float32).reshape(-1, 4)
    wh = np.concatenate([b[:, 2:] - b[:, :2]] * 2, axis=1)
    return b + np.asarray(DLIB_BOX_FROM_MTCNN, np.float32) * wh


class TeacherModel:
    """MTCNN faces + dlib face embeddings + HOG and face-derived person boxes, per frame.

    Every frame's detections have the columns:
    embedding (n, 128): unit dlib vector of the face (faces) or of the face inside (persons), zero
        rows where there is none; data["dlib_embedding"] (n, 128) the raw dlib vectors (zero rows
        likewise); data["landmarks"] (n, 5, 2) MTCNN landmarks (NaN for persons);
        data["face_row"] (n,) int64 row of the face whose embedding a row carries (-1: none; a face
        row points at itself); data["from_face"] (n,) bool, True for person boxes derived from a
        face. Faces come first, then HOG persons, then face-derived persons.
    """

    model_version = "teachers-mtcnn-hog-dlib"
    input_size: tuple[int, int] = labels.ANALYSIS_SIZE

    def __init__(self, device: str | torch.device = "cpu", min_face_size: float = MIN_FACE_SIZE,
                 hog: HogPeopleDetector | None = None) -> None:
        self.mtcnn = MTCNN(min_face_size=min_face_size, device=device)
        self.dlib = DlibFaces()
        self.hog = HogPeopleDetector() if hog is None else hog

    def analyze(self, images: np.ndarray) -> list[FrameAnalysis]:
        """uint8 RGB frames (B, 224, 384, 3) -> one FrameAnalysis per frame (tag_scores and
        person_mask None: the teachers neither tag nor segment)."""
        w, h = self.input_size
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 \
                or images.shape[1:] != (h, w, 3):
            got = f"{images.dtype} {images.shape}" if isinstance(images, np.ndarray) else type(images)
            raise ValueError(f"images must be uint8 RGB (B, {h}, {w}, 3) (input_size {w}x{h}), got {got}; "
                             "resize the frames to the model's input_size first")
        faces = self.mtcnn.detect(images)
        return [FrameAnalysis(self._frame(image, f)) for image, f in zip(images, faces)]

    def _frame(self, image: np.ndarray, faces: Detections) -> Detections:
        h, w = image.shape[:2]
        n_faces = len(faces)
        raw = self.dlib.embed(image, dlib_boxes(faces.xyxy))
        # dlib's raw vectors are not unit length (about 1.4 here); FrameModel wants unit rows
        unit = raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-12)
        hog = self.hog.detect_one(image)

        # 1. faces that a HOG box contains; the others get a head-and-shoulders box
        cover = face_coverage(faces.xyxy, hog.xyxy)
        inside = cover >= FACE_INSIDE
        lonely = np.flatnonzero(~inside.any(axis=1))
        derived = head_and_shoulders(faces.xyxy[lonely], w, h)

        # 2. the face each HOG box carries: the contained face covering most of it
        hog_face = np.full(len(hog), -1, np.int64)
        if n_faces and len(hog):
            best = np.where(inside, cover, -1.0).argmax(axis=0)
            has = inside[best, np.arange(len(hog))]
            hog_face[has] = best[has]

        face_row = np.concatenate([np.arange(n_faces), hog_face, lonely]).astype(np.int64)
        n = len(face_row)
        xyxy = np.concatenate([faces.xyxy, hog.xyxy, derived]).astype(np.float32)
        confidence = np.concatenate([faces.confidence, hog.confidence, faces.confidence[lonely]])
        class_id = np.concatenate([np.full(n_faces, labels.FACE), np.full(n - n_faces, labels.PERSON)])
        pad = np.zeros((1, EMBED_DIM), np.float32)  # row -1 of the padded tables: "no face"
        embedding = np.concatenate([unit, pad])[face_row]
        dlib_embedding = np.concatenate([raw, pad])[face_row]
        landmarks = np.full((n, 5, 2), np.nan, np.float32)
        landmarks[:n_faces] = faces.data["landmarks"]
        from_face = np.zeros(n, bool)
        from_face[n_faces + len(hog):] = True
        return Detections(xyxy, confidence=confidence, class_id=class_id, embedding=embedding,
                          data={"dlib_embedding": dlib_embedding, "landmarks": landmarks,
                                "face_row": face_row, "from_face": from_face})
