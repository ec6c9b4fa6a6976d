"""Read TensorFlow Lite models (`.tflite`) without TensorFlow, and run them as torch modules.

A `.tflite` file is a FlatBuffer of TFLite's `schema.fbs`. `read_model` decodes the few tables a
float inference graph needs (Model, SubGraph, Tensor, Buffer, Operator, OperatorCode and the
builtin options of the ops below) with `struct` alone: no TensorFlow, no `flatbuffers` package,
no generated code. `TfliteNet` turns the graph into a torch module: every operator is read from
the file and run in order, its constants (float16 weights behind DEQUANTIZE ops included) become
float32 buffers, activations stay NCHW inside and the graph's NHWC layout is restored where it
shows (RESHAPE, the outputs).

Only the operators our teachers' graphs use are supported; any other raises `ValueError` naming
it, so a new graph fails loudly instead of running wrong.
"""

from __future__ import annotations

import math
import pathlib
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------- schema.fbs, the parts we read

#: BuiltinOperator codes (schema.fbs) of the operators `TfliteNet` runs
BUILTIN_OPS = {0: "ADD", 1: "AVERAGE_POOL_2D", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D", 6: "DEQUANTIZE",
               14: "LOGISTIC", 17: "MAX_POOL_2D", 18: "MUL", 19: "RELU", 21: "RELU6", 22: "RESHAPE",
               23: "RESIZE_BILINEAR", 34: "PAD", 40: "MEAN", 117: "HARD_SWISH"}
#: custom operators `TfliteNet` runs: MediaPipe's transposed convolution with a bias (its
#: segmentation models' last upsampling), `transpose_conv_bias.cc` in MediaPipe
CUSTOM_OPS = ("Convolution2DTransposeBias",)
#: TensorType -> NumPy dtype (the types a float graph holds)
TENSOR_TYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8}
_POOL_OPTIONS = (("padding", "b", 0), ("stride_w", "i", 0), ("stride_h", "i", 0),
                 ("filter_width", "i", 0), ("filter_height", "i", 0), ("fused_activation_function", "b", 0))
#: builtin options tables, field by field in schema order: (name, struct format, default)
_OPTIONS: dict[str, tuple[tuple[str, str, Any], ...]] = {
    "CONV_2D": (("padding", "b", 0), ("stride_w", "i", 0), ("stride_h", "i", 0),
                ("fused_activation_function", "b", 0), ("dilation_w_factor", "i", 1),
                ("dilation_h_factor", "i", 1)),
    "DEPTHWISE_CONV_2D": (("padding", "b", 0), ("stride_w", "i", 0), ("stride_h", "i", 0),
                          ("depth_multiplier", "i", 0), ("fused_activation_function", "b", 0),
                          ("dilation_w_factor", "i", 1), ("dilation_h_factor", "i", 1)),
    "MAX_POOL_2D": _POOL_OPTIONS,
    "AVERAGE_POOL_2D": _POOL_OPTIONS,
    "ADD": (("fused_activation_function", "b", 0),),
    "MUL": (("fused_activation_function", "b", 0),),
    "MEAN": (("keep_dims", "?", False),),
    "RESIZE_BILINEAR": (("new_height", "i", 0), ("new_width", "i", 0), ("align_corners", "?", False),
                        ("half_pixel_centers", "?", False)),
}
#: Padding enum
SAME, VALID = 0, 1
#: TfLitePadding's "same" (the C enum a custom op's raw options hold: unknown 0, same 1, valid 2)
_TFLITE_PADDING_SAME = 1
#: ActivationFunctionType enum: NONE, RELU, RELU_N1_TO_1, RELU6
_ACTIVATIONS = {0: None, 1: F.relu, 3: F.relu6}


class _Table:
    """One FlatBuffer table: scalar fields, offsets to sub-tables, vectors and strings."""

    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf, self.pos = buf, pos
        vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        size = struct.unpack_from("<H", buf, vtable)[0]
        self.slots = struct.unpack_from(f"<{(size - 4) // 2}H", buf, vtable + 4)

    def _at(self, i: int) -> int | None:
        off = self.slots[i] if i < len(self.slots) else 0
        return self.pos + off if off else None

    def scalar(self, i: int, fmt: str, default: Any = 0) -> Any:
        at = self._at(i)
        return default if at is None else struct.unpack_from("<" + fmt, self.buf, at)[0]

    def _target(self, i: int) -> int | None:
        at = self._at(i)
        return None if at is None else at + struct.unpack_from("<I", self.buf, at)[0]

    def table(self, i: int) -> _Table | None:
        at = self._target(i)
        return None if at is None else _Table(self.buf, at)

    def vector(self, i: int) -> tuple[int, int]:
        """(start, length) of a vector field; (0, 0) when absent."""
        at = self._target(i)
        return (0, 0) if at is None else (at + 4, struct.unpack_from("<I", self.buf, at)[0])

    def scalars(self, i: int, fmt: str) -> tuple:
        start, n = self.vector(i)
        return struct.unpack_from(f"<{n}{fmt}", self.buf, start) if n else ()

    def tables(self, i: int) -> list[_Table]:
        start, n = self.vector(i)
        return [_Table(self.buf, start + 4 * k + struct.unpack_from("<I", self.buf, start + 4 * k)[0])
                for k in range(n)]

    def string(self, i: int) -> str:
        start, n = self.vector(i)
        return self.buf[start:start + n].decode()

    def bytes(self, i: int) -> bytes:
        start, n = self.vector(i)
        return self.buf[start:start + n]


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: type
    buffer: int


@dataclass(frozen=True)
class Operator:
    """An operator of the graph: its name (BUILTIN_OPS), tensor indices (-1: an absent optional
    input) and its builtin options as a dict (empty for options-less operators)."""

    op: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TfliteGraph:
    """The first subgraph of a model: tensors, operators in execution order, graph inputs and
    outputs, and the constant data of each tensor that has any."""

    tensors: tuple[TensorInfo, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    constants: dict[int, np.ndarray]

    def tensor_index(self, name: str) -> int:
        for i, t in enumerate(self.tensors):
            if t.name == name:
                return i
        raise KeyError(f"no tensor named {name!r} in the graph")


def read_model(path: str | pathlib.Path) -> TfliteGraph:
    """Parse a `.tflite` file (its first subgraph). Operators outside BUILTIN_OPS and CUSTOM_OPS
    and tensor types outside TENSOR_TYPES raise ValueError."""
    buf = pathlib.Path(path).read_bytes()
    if buf[4:8] != b"TFL3":
        raise ValueError(f"{path} is not a TFLite model (file identifier {buf[4:8]!r}, expected b'TFL3')")
    model = _Table(buf, struct.unpack_from("<I", buf, 0)[0])
    codes = []
    for code in model.tables(1):
        # builtin_code (field 3) superseded the int8 deprecated_builtin_code (field 0) at 127
        number = max(code.scalar(0, "b"), code.scalar(3, "i"))
        custom = code.string(1)
        if (custom and custom not in CUSTOM_OPS) or (not custom and number not in BUILTIN_OPS):
            raise ValueError(f"{path}: operator {custom or number} is not supported "
                             f"(supported: {sorted(BUILTIN_OPS.values()) + list(CUSTOM_OPS)})")
        codes.append(custom or BUILTIN_OPS[number])
    buffers = model.tables(4)
    (subgraph, *_) = model.tables(2)
    tensors, constants = [], {}
    for i, t in enumerate(subgraph.tables(0)):
        kind = t.scalar(1, "b")
        if kind not in TENSOR_TYPES:
            raise ValueError(f"{path}: tensor {t.string(3)!r} has unsupported TensorType {kind}")
        info = TensorInfo(t.string(3), tuple(t.scalars(0, "i")), TENSOR_TYPES[kind], t.scalar(2, "I"))
        tensors.append(info)
        data = buffers[info.buffer].bytes(0) if info.buffer < len(buffers) else b""
        if data:
            constants[i] = np.frombuffer(data, info.dtype).reshape(info.shape).copy()
    operators = []
    for op in subgraph.tables(3):
        name = codes[op.scalar(0, "I")]
        options = {}
        spec = _OPTIONS.get(name, ())
        table = op.table(4) if spec else None
        for k, (key, fmt, default) in enumerate(spec):
            options[key] = default if table is None else table.scalar(k, fmt, default)
        if name == "Convolution2DTransposeBias":
            # custom_options (Operator field 5): TfLiteTransposeConvParams as raw int32s
            padding, stride_w, stride_h = struct.unpack_from("<iii", op.bytes(5))
            options = {"same": padding == _TFLITE_PADDING_SAME, "stride_w": stride_w, "stride_h": stride_h}
        operators.append(Operator(name, tuple(op.scalars(1, "i")), tuple(op.scalars(2, "i")), options))
    return TfliteGraph(tuple(tensors), tuple(operators), tuple(subgraph.scalars(1, "i")),
                       tuple(subgraph.scalars(2, "i")), constants)


# ---------------------------------------------------------------- the graph as a torch module

def _same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow "SAME": out = ceil(in / stride), the odd pixel after (bottom/right)."""
    effective = (kernel - 1) * dilation + 1
    total = max((math.ceil(size / stride) - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int],
              dilation: tuple[int, int] = (1, 1), value: float = 0.0) -> torch.Tensor:
    top, bottom = _same_padding(x.shape[2], kernel[0], stride[0], dilation[0])
    left, right = _same_padding(x.shape[3], kernel[1], stride[1], dilation[1])
    if top or bottom or left or right:
        x = F.pad(x, (left, right, top, bottom), value=value)
    return x


def _resize_bilinear(x: torch.Tensor, size: tuple[int, int], align_corners: bool,
                     half_pixel_centers: bool) -> torch.Tensor:
    """TFLite RESIZE_BILINEAR on NCHW, its three coordinate rules."""
    if half_pixel_centers and not align_corners:
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    if align_corners:
        return F.interpolate(x, size=size, mode="bilinear", align_corners=True)
    # legacy: output pixel i samples input i * in/out, clamped at the last pixel
    for dim, out in ((2, size[0]), (3, size[1])):
        n = x.shape[dim]
        src = torch.arange(out, dtype=torch.float64) * (n / out)
        lo = src.floor().long().clamp(max=n - 1)
        hi = (lo + 1).clamp(max=n - 1)
        shape = [1, 1, 1, 1]
        shape[dim] = out
        w = (src - lo).to(x.dtype).reshape(shape)
        x = x.index_select(dim, lo) * (1 - w) + x.index_select(dim, hi) * w
    return x


def _transpose_conv_bias(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                         options: dict[str, Any]) -> torch.Tensor:
    """MediaPipe's Convolution2DTransposeBias on NCHW (`weight` in torch's (I, O, H, W)): each
    input pixel adds its kernel-sized patch at stride spacing; with "same" padding the output is
    stride * (in - 1) + kernel - pad, cropped by pad // 2 at the top/left (as MediaPipe does)."""
    stride = (options["stride_h"], options["stride_w"])
    y = F.conv_transpose2d(x, weight, bias, stride)
    if options["same"]:
        crops = []
        for dim, (size, k, s) in enumerate(zip(x.shape[2:], weight.shape[2:], stride)):
            pad = max(0, k - (size - 1) % s - 1)
            crops.append((pad // 2, s * (size - 1) + k - pad))
        (top, height), (left, width) = crops
        y = y[:, :, top:top + height, left:left + width]
    return y


class TfliteNet(nn.Module):
    """A TFLite float graph run by torch, operator by operator as the file orders them.

    forward: graph inputs as torch tensors in the graph's own layout (NHWC images), batch size
    free -> the graph outputs, in order, in the graph's layout. Convolution weights become
    float32 buffers in torch's layout (state_dict keys are the sanitised tensor names), so the
    module moves with `.to(device)` and casts with `.to(dtype)` like any other.
    """

    def __init__(self, graph: TfliteGraph) -> None:
        super().__init__()
        self.graph = graph
        const = dict(graph.constants)
        for op in graph.operators:  # float16 weights: DEQUANTIZE of a constant is a constant
            if op.op == "DEQUANTIZE" and op.inputs[0] in const:
                const[op.outputs[0]] = const[op.inputs[0]].astype(np.float32)
        self._keys: dict[int, str] = {}
        for op in graph.operators:
            if op.op not in ("CONV_2D", "DEPTHWISE_CONV_2D", "Convolution2DTransposeBias"):
                continue
            weight, bias = op.inputs[1], op.inputs[2] if len(op.inputs) > 2 else -1
            w = torch.from_numpy(const[weight].astype(np.float32))
            # TFLite: conv (O, H, W, I), depthwise (1, H, W, C * multiplier), transposed (O, H, W, I);
            # torch: conv (O, I/groups, H, W), transposed (I, O, H, W)
            w = w.permute(3, 0, 1, 2) if op.op != "CONV_2D" else w.permute(0, 3, 1, 2)
            self._register(weight, w.contiguous())
            if bias >= 0:
                self._register(bias, torch.from_numpy(const[bias].astype(np.float32)))
        # small integer constants (shapes, paddings, sizes) stay NumPy; float ones (operands of
        # elementwise ops, float16 ones dequantized) are made tensors where an op reads them
        self._small = {i: v for i, v in const.items() if v.dtype.kind in "iu"}
        self._floats = {i: v for i, v in const.items() if v.dtype == np.float32}

    def _register(self, index: int, value: torch.Tensor) -> None:
        key = "t" + "".join(c if c.isalnum() else "_" for c in self.graph.tensors[index].name)
        self._keys[index] = key
        self.register_buffer(key, value)

    def _param(self, index: int) -> torch.Tensor | None:
        return getattr(self, self._keys[index]) if index >= 0 else None

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        values: dict[int, torch.Tensor] = {}
        for index, x in zip(self.graph.inputs, inputs, strict=True):
            values[index] = x.permute(0, 3, 1, 2) if x.ndim == 4 else x  # NHWC -> NCHW inside
        for op in self.graph.operators:
            values[op.outputs[0]] = self._run(op, values)
        out = []
        for index in self.graph.outputs:
            y = values[index]
            out.append(y.permute(0, 2, 3, 1) if y.ndim == 4 else y)
        return tuple(out)

    def _run(self, op: Operator, values: dict[int, torch.Tensor]) -> torch.Tensor:
        o, kind = op.options, op.op
        if kind == "DEQUANTIZE":
            return values.get(op.inputs[0])  # constants are already float32 buffers
        x = values[op.inputs[0]]
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            w, b = self._param(op.inputs[1]), self._param(op.inputs[2] if len(op.inputs) > 2 else -1)
            stride, dilation = (o["stride_h"], o["stride_w"]), (o["dilation_h_factor"], o["dilation_w_factor"])
            if o["padding"] == SAME:
                x = _pad_same(x, tuple(w.shape[2:]), stride, dilation)
            groups = x.shape[1] if kind == "DEPTHWISE_CONV_2D" else 1
            y = F.conv2d(x, w.to(x.dtype), None if b is None else b.to(x.dtype), stride, 0, dilation, groups)
            return self._activate(y, o["fused_activation_function"])
        if kind == "Convolution2DTransposeBias":
            return _transpose_conv_bias(x, self._param(op.inputs[1]).to(x.dtype),
                                        self._param(op.inputs[2]).to(x.dtype), o)
        if kind in ("ADD", "MUL"):
            y = values.get(op.inputs[1])
            y = self._constant(op.inputs[1], x) if y is None else y
            out = x + y if kind == "ADD" else x * y
            return self._activate(out, o["fused_activation_function"])
        if kind == "HARD_SWISH":
            return F.hardswish(x)
        if kind == "LOGISTIC":
            return torch.sigmoid(x)
        if kind == "MEAN":
            axes = [int(a) for a in np.atleast_1d(self._small[op.inputs[1]])]
            if x.ndim != 4 or sorted(a % 4 for a in axes) != [1, 2]:
                raise ValueError(f"MEAN over axes {axes} is not supported (only H and W of NHWC)")
            y = x.mean(dim=(2, 3), keepdim=True)
            return y if o["keep_dims"] else y.flatten(1)
        if kind == "RELU":
            return F.relu(x)
        if kind == "RELU6":
            return F.relu6(x)
        if kind in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
            kernel, stride = (o["filter_height"], o["filter_width"]), (o["stride_h"], o["stride_w"])
            if kind == "MAX_POOL_2D":
                if o["padding"] == SAME:
                    x = _pad_same(x, kernel, stride, value=-math.inf)
                y = F.max_pool2d(x, kernel, stride)
            else:
                # TFLite averages a SAME-padded window over its in-frame pixels only; the pools
                # our graphs hold are global (kernel = input), where no padding arises
                if o["padding"] == SAME and (kernel != tuple(x.shape[2:]) or stride != kernel):
                    raise ValueError("AVERAGE_POOL_2D with SAME padding is supported only as a global pool")
                y = F.avg_pool2d(x, kernel, stride)
            return self._activate(y, o["fused_activation_function"])
        if kind == "PAD":
            pads = self._small[op.inputs[1]]  # (rank, 2) before/after per NHWC dimension
            if x.ndim != 4:
                raise ValueError(f"PAD of a rank-{x.ndim} tensor is not supported")
            (n0, n1), (h0, h1), (w0, w1), (c0, c1) = pads.tolist()
            if n0 or n1:
                raise ValueError("PAD along the batch dimension is not supported")
            return F.pad(x, (w0, w1, h0, h1, c0, c1))
        if kind == "RESIZE_BILINEAR":
            size = tuple(int(v) for v in self._small[op.inputs[1]])
            return _resize_bilinear(x, size, o["align_corners"], o["half_pixel_centers"])
        if kind == "RESHAPE":
            if x.ndim == 4:
                x = x.permute(0, 2, 3, 1)  # reshape sees the graph's NHWC order
            # the shape input (or, when absent, ReshapeOptions.new_shape) equals the output's shape
            shape = list(self.graph.tensors[op.outputs[0]].shape)
            shape[0] = x.shape[0]  # the batch stays free
            y = x.reshape(shape)
            return y.permute(0, 3, 1, 2) if y.ndim == 4 else y
        raise ValueError(f"operator {kind} is not supported")

    def _constant(self, index: int, like: torch.Tensor) -> torch.Tensor:
        """A constant operand of an elementwise op, NHWC -> NCHW when it is 4-d."""
        value = torch.from_numpy(self._floats[index]).to(like)
        return value.permute(0, 3, 1, 2) if value.ndim == 4 else value

    @staticmethod
    def _activate(x: torch.Tensor, code: int) -> torch.Tensor:
        if code not in _ACTIVATIONS:
            raise ValueError(f"fused activation {code} is not supported")
        fn = _ACTIVATIONS[code]
        return x if fn is None else fn(x)
