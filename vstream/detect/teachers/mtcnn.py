"""MTCNN face detector (Zhang et al., 2016): our port of facenet-pytorch's `detect_face`.

The three networks are our own modules with facenet-pytorch's layer names, so its weights
(`facenet_pytorch/data/{pnet,rnet,onet}.pt` of the `facenet-pytorch` wheel) load with
`strict=True`; facenet_pytorch itself is never imported (it needs torchvision; DESIGN.md,
"Models without a model hub").

The cascade follows the reference step by step, including its arithmetic quirks (floor/trunc,
"+1" widths in the box regression, crops that clip instead of zero-padding, area resampling):

1. PNet, fully convolutional, on an image pyramid (scales 12/min_face_size * 0.709^k while the
   short side stays >= 12 px); candidates with p >= thresholds[0]; NMS 0.5 (IoU) per scale and
   image, then 0.7 per image; box regression; squared (`_rerec`).
2. RNet on 24x24 crops; p > thresholds[1]; NMS 0.7 per image; regression; squared.
3. ONet on 48x48 crops; p > thresholds[2]; landmarks; regression; NMS 0.7 per image with the
   "Min" overlap (intersection over the smaller box).

Batched: PNet runs once per scale on all frames, RNet and ONet once on all crops of the batch;
the per-image NMS keeps frames independent, so a frame gives the same faces alone or in a batch.
One deliberate difference: a candidate whose crop is empty (entirely outside the frame) is
dropped, where the reference would misalign its score array with the boxes.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vstream.detect import labels
from vstream.detect.teachers.nms import batched_nms
from vstream.detections import Detections
from vstream.weights import package_file

WEIGHTS_DISTRIBUTION = "facenet-pytorch"
#: the state dicts inside the wheel, by network
WEIGHTS_FILES = {name: f"facenet_pytorch/data/{name}.pt" for name in ("pnet", "rnet", "onet")}

#: pyramid step of the reference
PYRAMID_FACTOR = 0.709
#: (pnet within a scale, pnet across scales, rnet, onet "Min") NMS thresholds of the reference
_NMS_PNET_SCALE, _NMS_PNET, _NMS_RNET, _NMS_ONET = 0.5, 0.7, 0.7, 0.7


class PNet(nn.Module):
    """Proposal net: fully convolutional, a 12x12 window per output cell at stride 2."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, kernel_size=3)
        self.prelu1 = nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(10, 16, kernel_size=3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, h, w) normalised -> box offsets (B, 4, h', w'), face probability (B, h', w')."""
        x = self.prelu1(self.conv1(x))
        x = self.pool1(x)
        x = self.prelu2(self.conv2(x))
        x = self.prelu3(self.conv3(x))
        return self.conv4_2(x), torch.softmax(self.conv4_1(x), dim=1)[:, 1]


class RNet(nn.Module):
    """Refinement net on 24x24 crops."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, kernel_size=3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(28, 48, kernel_size=3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(48, 64, kernel_size=2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(n, 3, 24, 24) normalised -> box offsets (n, 4), face probability (n,)."""
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        # the weights were converted from Caffe/TF: dense4 expects (w, h, c) flattening order
        x = x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)
        x = self.prelu4(self.dense4(x))
        return self.dense5_2(x), torch.softmax(self.dense5_1(x), dim=1)[:, 1]


class ONet(nn.Module):
    """Output net on 48x48 crops: box offsets, 5 landmarks, face probability."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(n, 3, 48, 48) normalised -> box offsets (n, 4), landmarks (n, 10) as 5 x then 5 y
        relative to the box, face probability (n,)."""
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)  # (w, h, c) order, as in RNet
        x = self.prelu5(self.dense5(x))
        return self.dense6_2(x), self.dense6_3(x), torch.softmax(self.dense6_1(x), dim=1)[:, 1]


def load_net(name: str) -> nn.Module:
    """PNet, RNet or ONet ("pnet", "rnet", "onet") with facenet-pytorch's weights, eval mode.

    Raises VStreamError (with the pip command that fixes it) when the wheel is missing, and
    RuntimeError when the state dict does not match our module exactly.
    """
    if name not in WEIGHTS_FILES:
        raise ValueError(f"name must be one of {sorted(WEIGHTS_FILES)}, got {name!r}")
    net = {"pnet": PNet, "rnet": RNet, "onet": ONet}[name]()
    state = torch.load(package_file(WEIGHTS_DISTRIBUTION, WEIGHTS_FILES[name]), map_location="cpu",
                       weights_only=True)
    net.load_state_dict(state, strict=True)
    return net.eval()


# ---------------------------------------------------------------------- reference box arithmetic


def _normalise(x: torch.Tensor) -> torch.Tensor:
    return (x - 127.5) * 0.0078125


def _pyramid(h: int, w: int, min_face_size: float, factor: float) -> list[float]:
    """Scales at which a 12 px PNet window is a face of min_face_size, min_face_size/factor, ..."""
    m = 12.0 / min_face_size
    minl = min(h, w) * m
    scales = []
    scale = m
    while minl >= 12:
        scales.append(scale)
        scale *= factor
        minl *= factor
    return scales


def _candidates(reg: torch.Tensor, probs: torch.Tensor, scale: float, threshold: float
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """PNet cells with probability >= threshold -> (n, 9) rows [x1 y1 x2 y2 score dx1 dy1 dx2 dy2]
    in image pixels, and (n,) image indices (the reference's generateBoundingBox)."""
    stride, cell = 2, 12
    mask = probs >= threshold
    where = mask.nonzero()
    score = probs[mask]
    offsets = reg.permute(1, 0, 2, 3)[:, mask].permute(1, 0)
    xy = where[:, 1:].to(reg.dtype).flip(1)
    q1 = ((stride * xy + 1) / scale).floor()
    q2 = ((stride * xy + cell - 1 + 1) / scale).floor()
    return torch.cat([q1, q2, score[:, None], offsets], dim=1), where[:, 0]


def _rerec(boxes: torch.Tensor) -> torch.Tensor:
    """Squares (n, >=4) boxes around their centre on the longer side (in place, returned)."""
    h = boxes[:, 3] - boxes[:, 1]
    w = boxes[:, 2] - boxes[:, 0]
    side = torch.maximum(w, h)
    boxes[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    boxes[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    boxes[:, 2:4] = boxes[:, :2] + side[:, None]
    return boxes


def _bbreg(boxes: torch.Tensor, reg: torch.Tensor) -> torch.Tensor:
    """Applies RNet/ONet offsets, relative to "+1" box sizes (in place, returned)."""
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    boxes[:, :4] = boxes[:, :4] + reg * torch.stack([w, h, w, h], dim=1)
    return boxes


def _integral(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, H+1, W+1, 3) float64 summed-area tables (zero first row and column)."""
    table = images.permute(0, 2, 3, 1).to(torch.float64).cumsum(1).cumsum(2)
    return F.pad(table, (0, 0, 1, 0, 1, 0))


def _bin_edges(start: torch.Tensor, length: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Adaptive-average-pooling bins of `length` pixels into `size`: bin i covers
    [floor(i*length/size), ceil((i+1)*length/size)), offset by `start`. (k,) -> two (k, size)."""
    i = torch.arange(size, device=start.device)
    lo = (i * length[:, None]) // size
    hi = -((-(i + 1) * length[:, None]) // size)
    return start[:, None] + lo, start[:, None] + hi


def _crops(integral: torch.Tensor, boxes: torch.Tensor, image_inds: torch.Tensor, size: int
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Boxes truncated to ints and clipped to the frame (the reference's `pad`), each crop
    area-resampled to size x size. Returns the normalised crops (k, 3, size, size) and the indices
    of the boxes they came from (boxes whose clipped crop is empty are left out).

    `integral` is `_integral(images)`. The reference resamples crop by crop with
    `interpolate(mode="area")` (adaptive average pooling); the same bin means read from summed-area
    tables give all crops of the batch at once (a per-crop loop took a third of the run time).
    """
    h, w = integral.shape[1] - 1, integral.shape[2] - 1
    b = boxes[:, :4].trunc().long()
    # the reference's crop is rows y-1 .. ey-1 after clipping y >= 1 and ey <= h (same for x)
    x0, y0 = b[:, 0].clamp(min=1) - 1, b[:, 1].clamp(min=1) - 1
    x1, y1 = b[:, 2].clamp(max=w), b[:, 3].clamp(max=h)
    valid = ((y1 > y0) & (x1 > x0)).nonzero()[:, 0]
    x0, y0, x1, y1, inds = x0[valid], y0[valid], x1[valid], y1[valid], image_inds[valid]
    ys, ye = _bin_edges(y0, y1 - y0, size)
    xs, xe = _bin_edges(x0, x1 - x0, size)
    n = inds[:, None, None]
    ys, ye, xs, xe = ys[:, :, None], ye[:, :, None], xs[:, None, :], xe[:, None, :]
    sums = integral[n, ye, xe] - integral[n, ys, xe] - integral[n, ye, xs] + integral[n, ys, xs]
    means = sums / ((ye - ys) * (xe - xs))[..., None]
    crops = _normalise(means.to(torch.float32)).permute(0, 3, 1, 2)  # NHWC memory: channels-last
    return crops, valid


def _nms(boxes: torch.Tensor, image_inds: torch.Tensor, threshold: float, mode: str = "union"
         ) -> torch.Tensor:
    keep = batched_nms(boxes[:, :4].cpu().numpy(), boxes[:, 4].cpu().numpy(),
                       image_inds.cpu().numpy(), threshold, mode)  # type: ignore[arg-type]
    return torch.as_tensor(keep, dtype=torch.long, device=boxes.device)


# ---------------------------------------------------------------------- the detector


class MTCNN:
    """Batched MTCNN face detector with facenet-pytorch's weights and defaults.

    min_face_size: the smallest face side (pixels) searched for; smaller finds smaller faces at
        the cost of a larger pyramid (more time) and more false positives.
    thresholds: face probability thresholds of PNet, RNet and ONet.
    """

    def __init__(self, min_face_size: float = 20, thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
                 device: str | torch.device = "cpu", factor: float = PYRAMID_FACTOR) -> None:
        if min_face_size < 12:
            # below 12 the first pyramid level is an upscale of the frame: slow, and PNet was not
            # trained on interpolated pixels
            raise ValueError(f"min_face_size must be >= 12 pixels, got {min_face_size}")
        if len(thresholds) != 3 or not all(0.0 <= t < 1.0 for t in thresholds):
            raise ValueError(f"thresholds must be three probabilities in [0, 1), got {thresholds}")
        if not 0.0 < factor < 1.0:
            raise ValueError(f"factor must be in (0, 1), got {factor}")
        self.min_face_size = float(min_face_size)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.factor = float(factor)
        self.device = torch.device(device)
        # channels-last: oneDNN's pooling and convolutions are ~3x faster on it than on NCHW
        self.pnet, self.rnet, self.onet = (load_net(n).to(self.device, memory_format=torch.channels_last)
                                           for n in ("pnet", "rnet", "onet"))

    @torch.inference_mode()
    def detect(self, images: np.ndarray, min_face_size: float | None = None) -> list[Detections]:
        """uint8 RGB frames (B, H, W, 3) -> one Detections per frame: class labels.FACE, confidence
        the ONet probability, boxes clipped to the frame, data["landmarks"] (n, 5, 2) float32
        pixel (x, y) of the eyes, nose and mouth corners (as seen: left eye first in the image).
        Rows are sorted by decreasing confidence. `min_face_size` overrides the detector's for
        this call (at least 12)."""
        min_face = self.min_face_size if min_face_size is None else float(min_face_size)
        if min_face < 12:
            raise ValueError(f"min_face_size must be >= 12 pixels, got {min_face}")
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 \
                or images.shape[3] != 3:
            got = f"{images.dtype} {images.shape}" if isinstance(images, np.ndarray) else type(images)
            raise ValueError(f"images must be a uint8 numpy array (B, H, W, 3) RGB, got {got}")
        batch, h, w = images.shape[:3]
        if batch == 0:
            return []
        imgs = torch.from_numpy(images).to(self.device).permute(0, 3, 1, 2).float()
        integral = _integral(imgs)
        t_p, t_r, t_o = self.thresholds

        # 1. PNet on every pyramid level of the whole batch
        boxes_l, inds_l = [], []
        for scale in _pyramid(h, w, min_face, self.factor):
            level = F.interpolate(imgs, size=(int(h * scale + 1), int(w * scale + 1)), mode="area")
            reg, probs = self.pnet(_normalise(level).contiguous(memory_format=torch.channels_last))
            boxes_s, inds_s = _candidates(reg, probs, scale, t_p)
            keep = _nms(boxes_s, inds_s, _NMS_PNET_SCALE)
            boxes_l.append(boxes_s[keep])
            inds_l.append(inds_s[keep])
        boxes = torch.cat(boxes_l) if boxes_l else imgs.new_zeros((0, 9))
        inds = torch.cat(inds_l) if inds_l else torch.zeros(0, dtype=torch.long, device=self.device)
        keep = _nms(boxes, inds, _NMS_PNET)
        boxes, inds = boxes[keep], inds[keep]
        # PNet's offsets are relative to the plain (no "+1") window size
        bw = (boxes[:, 2] - boxes[:, 0])[:, None]
        bh = (boxes[:, 3] - boxes[:, 1])[:, None]
        boxes = torch.cat([boxes[:, :4] + boxes[:, 5:9] * torch.cat([bw, bh, bw, bh], 1), boxes[:, 4:5]], 1)
        boxes = _rerec(boxes)

        # 2. RNet on all 24x24 crops of the batch
        crops, valid = _crops(integral, boxes, inds, 24)
        boxes, inds = boxes[valid], inds[valid]
        if len(boxes):
            reg, score = self.rnet(crops)
            ok = score > t_r
            boxes = torch.cat([boxes[ok, :4], score[ok, None]], 1)
            inds, reg = inds[ok], reg[ok]
            keep = _nms(boxes, inds, _NMS_RNET)
            boxes = _rerec(_bbreg(boxes[keep], reg[keep]))
            inds = inds[keep]

        # 3. ONet on all 48x48 crops; landmarks are relative to the ONet input box
        points = imgs.new_zeros((0, 5, 2))
        if len(boxes):
            crops, valid = _crops(integral, boxes, inds, 48)
            boxes, inds = boxes[valid], inds[valid]
        if len(boxes):
            reg, marks, score = self.onet(crops)
            ok = score > t_o
            boxes = torch.cat([boxes[ok, :4], score[ok, None]], 1)
            inds, reg, marks = inds[ok], reg[ok], marks[ok]
            bw = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
            bh = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
            px = bw * marks[:, :5] + boxes[:, 0:1] - 1
            py = bh * marks[:, 5:] + boxes[:, 1:2] - 1
            points = torch.stack([px, py], dim=2)
            boxes = _bbreg(boxes, reg)
            keep = _nms(boxes, inds, _NMS_ONET, "min")
            boxes, inds, points = boxes[keep], inds[keep], points[keep]

        boxes_np = boxes.cpu().numpy()
        points_np = points.cpu().numpy().astype(np.float32)
        inds_np = inds.cpu().numpy()
        out = []
        for b in range(batch):
            rows = np.flatnonzero(inds_np == b)
            # the reference returns unclipped boxes; ours must lie in the frame like every detector's
            xyxy = np.clip(boxes_np[rows, :4], 0, [w, h, w, h]).astype(np.float32)
            ok = (xyxy[:, 2] - xyxy[:, 0] >= 1) & (xyxy[:, 3] - xyxy[:, 1] >= 1)
            rows, xyxy = rows[ok], xyxy[ok]
            out.append(Detections(
                xyxy, confidence=boxes_np[rows, 4], class_id=np.full(len(rows), labels.FACE, np.int32),
                data={"landmarks": points_np[rows].reshape(len(rows), 5, 2)},
            ))
        return out
