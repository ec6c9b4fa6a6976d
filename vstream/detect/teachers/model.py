"""`TeacherModel`: the offline teachers as one `FrameModel` (`--model teachers`).

Per frame, at the source's own aspect ratio (`TeacherModel.frame_size`: small sources scaled up to
the area of `labels.ANALYSIS_SIZE`, 384x224; large ones kept at their resolution up to MAX_SIDE):

- faces: MTCNN (`teachers.mtcnn`), min face size 16 px at the analysis area (larger frames: the
  same share of the frame, `min_face_size`). Test-video frames are 160x90 sources
  upscaled 2.4x (392x220 now, 384x224 when measured), so 16 px is a 7 px face in the source,
  below which there is no face detail left. Measured on 408 frames of the test video (every
  13th): min face size 12 / 16 / 20 / 24 found 254 / 253 / 250 / 249 faces, 12 and 14 at about
  half the speed of 16 (a larger first pyramid level).
- face identity: SFace's 128-d unit vector (`vstream.detect.face_identity`) of each MTCNN face,
  aligned by its 5 landmarks, in `embedding`. dlib's ResNet vector did this until 2026-12-04; on
  the test video's small faces it was nearly alike for everyone (docs/models.md, "Face identity:
  SFace").
- persons: the SSDLite-MobileNetV2 person detector (`teachers.ssdlite`, injected as `people`),
  one `detect` call per batch, at PEOPLE_THRESHOLD; frames whose longer side is at least
  TILE_MIN_SIDE (2x its 300x300 input) also run as 2x2 overlapping tiles, so people 40 px tall
  in a 768x576 camera are not shrunk to 20 px. Plus a head-and-shoulders box for every face that
  no detected body contains (`person_faces.head_and_shoulders`, a rule the unified network
  follows too): in close-ups the body is out of the frame.
  A person box carries the embedding of the face it contains or an all-zero row when it
  contains none (`vstream.detect.person_faces`, the rule the unified network follows too).
  It replaced OpenCV's HOG people detector, whose boxes were loose
  and half of them walls on the test video (docs/models.md, "Teachers").

Speed at 384x224 on the development machine (2 CPU cores shared with other jobs, so the numbers
moved 3-5x with the load): MTCNN 25-40 frames/s in batches of 16 with the machine nearly idle,
SFace about 26 ms a face on one core. SSDLite: 35-50 ms per 300x300
input, so about 50 ms per frame in one pass and 250 ms per tiled frame (five inputs).
"""

from __future__ import annotations

import numpy as np
import torch

from vstream.detect import labels
from vstream.detect.analysis import EMBED_DIM, FrameAnalysis, keep_aspect_size, linear_scale_over
from vstream.detect.box_decode import DUPLICATE_IOU
from vstream.detect.person_faces import head_and_shoulders, lonely_faces, person_face_rows
from vstream.detect.face_identity import FaceIdentity
from vstream.detect.teachers.mtcnn import MTCNN
from vstream.detect.teachers.ssdlite import SsdlitePeopleDetector
from vstream.detections import Detections
from vstream.kernels import iou_matrix

#: MTCNN min face size on ANALYSIS_SIZE frames (see the module docstring for the measurement)
MIN_FACE_SIZE = 16
#: the longest side a source is analysed at (larger sources are scaled down, aspect kept)
MAX_SIDE = 960
#: people detector: person probability a box needs, and frames whose longer side is at least
#: TILE_MIN_SIDE (about 2x the detector's 300x300 input) are also run as 2x2 tiles
PEOPLE_THRESHOLD = 0.4
#: people scoring from this up to PEOPLE_THRESHOLD are reported apart, for ByteTrack's second
#: association only (`FrameAnalysis.low_detections`): ByteTrack's low threshold
LOW_PEOPLE_SCORE = 0.1
PEOPLE_TILES = (2, 2)
TILE_MIN_SIDE = 600
#: boxes of different windows are one person above this IoU (0.3 merged people walking side by
#: side: on the 13 hand-counted vtest.avi frames 0.5 has 12 within +-1 of the hand count, 0.3 10)
PEOPLE_MERGE_IOU = 0.5


class TeacherModel:
    """MTCNN faces + SFace face identity + SSDLite and face-derived person boxes, per frame.

    Every frame's detections have the columns:
    embedding (n, 128): unit SFace vector of the face (faces) or of the face inside (persons),
        zero rows where there is none; data["landmarks"] (n, 5, 2) MTCNN landmarks (NaN for persons);
        data["face_row"] (n,) int64 row of the face whose embedding a row carries (-1: none; a face
        row points at itself); data["from_face"] (n,) bool, True for person boxes derived from a
        face. Faces come first, then detected persons, then face-derived persons.

    people: the whole-body person detector (`detect(frames) -> list[Detections]`, called once
        per batch); default `SsdlitePeopleDetector` at LOW_PEOPLE_SCORE, tiling frames whose
        longer side is at least TILE_MIN_SIDE. Its boxes from PEOPLE_THRESHOLD are the
        detections; those below, repeating none of them, the low detections.
    """

    #: -2: MTCNN's smallest face grows with frames larger than the analysis area
    model_version = "teachers-mtcnn-ssdlite-sface-3"
    input_size: tuple[int, int] = labels.ANALYSIS_SIZE
    #: MTCNN's and SSDLite's scores are probabilities: ByteTrack's own 0.5 and 0.6 fit them
    track_thresholds: dict[int, tuple[float, float]] = {}
    #: the embeddings are SFace's identity vectors already
    face_identity = None
    #: MTCNN's many small torch ops stall beside busy threads: on a thread of its own the pass
    #: made `vstream index` of the bench video slower (75-77 -> 81.5-81.8 s, docs/benchmarks.md)
    pipelined = False

    def __init__(self, device: str | torch.device = "cpu", min_face_size: float = MIN_FACE_SIZE,
                 people: SsdlitePeopleDetector | None = None) -> None:
        self.mtcnn = MTCNN(min_face_size=min_face_size, device=device)
        self.identity = FaceIdentity()
        self.people = people if people is not None else SsdlitePeopleDetector(
            score_threshold=LOW_PEOPLE_SCORE, tiles=PEOPLE_TILES, merge_iou=PEOPLE_MERGE_IOU,
            tile_min_side=TILE_MIN_SIDE, device=device)

    def frame_size(self, width: int, height: int) -> tuple[int, int]:
        """The source's own aspect ratio: small sources scaled up to the area of `input_size`
        (MTCNN's MIN_FACE_SIZE is calibrated there: a 160x90 video becomes 392x220), large ones
        kept at their resolution up to MAX_SIDE (people 40 px tall in a 768x576 camera stay 40
        px, and the people detector tiles them)."""
        return keep_aspect_size(width, height, self.input_size[0] * self.input_size[1], MAX_SIDE)

    def min_face_size(self, width: int, height: int) -> float:
        """MTCNN's smallest face on a width x height frame: MIN_FACE_SIZE on frames of the
        analysis area (where it was calibrated), the same share of the frame on larger ones.
        Searching a 768x576 camera for 16 px faces cost 2.7x the time of 36 px (282 against
        105 ms a frame on one core) and found no real face more: on vtest.avi (80 frames,
        every 10th) 3 boxes at 16 px, 6 at 36 px, all 28-57 px tall and, looked at, all but
        one on a van's windows; no face there is big enough to identify."""
        area = self.input_size[0] * self.input_size[1]
        return self.mtcnn.min_face_size * linear_scale_over(width, height, area)

    def analyze(self, images: np.ndarray) -> list[FrameAnalysis]:
        """uint8 RGB frames (B, H, W, 3) of one size (any; `frame_size` of their source) -> one
        FrameAnalysis per frame (tag_scores and person_mask None: the teachers neither tag nor
        segment)."""
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 \
                or images.shape[3] != 3 or min(images.shape[1:3]) < 16:
            got = f"{images.dtype} {images.shape}" if isinstance(images, np.ndarray) else type(images)
            raise ValueError(f"images must be uint8 RGB (B, H, W, 3) of at least 16x16 pixels, got "
                             f"{got}; decode them at the model's frame_size")
        faces = self.mtcnn.detect(images, self.min_face_size(images.shape[2], images.shape[1]))
        out = []
        for image, f, p in zip(images, faces, self.people.detect(images)):
            high = p.confidence >= PEOPLE_THRESHOLD
            low = ~high & (p.confidence >= LOW_PEOPLE_SCORE)
            out.append(FrameAnalysis(self._frame(image, f, p[high]),
                                     low_detections=_low_people(p[low], p.xyxy[high])))
        return out

    def _frame(self, image: np.ndarray, faces: Detections, people: Detections) -> Detections:
        h, w = image.shape[:2]
        n_faces = len(faces)
        unit = self.identity.embed(image, faces.xyxy, faces.data["landmarks"])

        # 1. faces that a detected person box contains; the others get a head-and-shoulders box
        lonely = lonely_faces(faces.xyxy, people.xyxy)
        derived = head_and_shoulders(faces.xyxy[lonely], w, h)

        # 2. the face each person box carries (`person_faces`)
        person_face = person_face_rows(faces.xyxy, people.xyxy)

        face_row = np.concatenate([np.arange(n_faces), person_face, lonely]).astype(np.int64)
        n = len(face_row)
        xyxy = np.concatenate([faces.xyxy, people.xyxy, derived]).astype(np.float32)
        confidence = np.concatenate([faces.confidence, people.confidence, faces.confidence[lonely]])
        class_id = np.concatenate([np.full(n_faces, labels.FACE), np.full(n - n_faces, labels.PERSON)])
        pad = np.zeros((1, EMBED_DIM), np.float32)  # row -1 of the padded tables: "no face"
        embedding = np.concatenate([unit, pad])[face_row]
        landmarks = np.full((n, 5, 2), np.nan, np.float32)
        landmarks[:n_faces] = faces.data["landmarks"]
        from_face = np.zeros(n, bool)
        from_face[n_faces + len(people):] = True
        return Detections(xyxy, confidence=confidence, class_id=class_id, embedding=embedding,
                          data={"landmarks": landmarks,
                                "face_row": face_row, "from_face": from_face})


def _low_people(low: Detections, reported: np.ndarray) -> Detections:
    """The people boxes below PEOPLE_THRESHOLD that repeat no reported box (IoU below
    DUPLICATE_IOU), with the columns of `TeacherModel._frame`'s rows (no face)."""
    if len(low) and len(reported):
        low = low[iou_matrix(low.xyxy, reported).max(axis=1) < DUPLICATE_IOU]
    n = len(low)
    return Detections(low.xyxy, low.confidence, np.full(n, labels.PERSON),
                      embedding=np.zeros((n, EMBED_DIM), np.float32),
                      data={"landmarks": np.full((n, 5, 2), np.nan, np.float32),
                            "face_row": np.full(n, -1, np.int64), "from_face": np.zeros(n, bool)})
