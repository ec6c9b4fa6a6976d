"""Read a TensorFlow frozen graph (`GraphDef`, a `.pb` file) without TensorFlow.

TensorFlow does not install here, and its generated `graph_pb2` modules come only with it (or
tensorboard). The `protobuf` runtime can parse any message whose descriptor it is given, so the
few messages a frozen graph needs are declared here field by field, with the field numbers of
TensorFlow's `graph.proto`, `node_def.proto`, `attr_value.proto`, `tensor.proto` and
`tensor_shape.proto`. Fields not declared (function library, versions, debug info, resource
handles) are kept by protobuf as unknown fields and ignored. Parsing the 13 MB SSDLite graph
takes about 60 ms with protobuf's upb backend.
"""

from __future__ import annotations

import functools
import pathlib
from typing import Any

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

#: TensorFlow's DataType enum values (types.proto) that a frozen graph's constants use
_DTYPES: dict[int, Any] = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16,
                           6: np.int8, 9: np.int64, 10: np.bool_}
_DT_STRING = 7
#: the TensorProto field that holds a constant's values when tensor_content is empty, per dtype
_VALUE_FIELD = {1: "float_val", 2: "double_val", 3: "int_val", 4: "int_val", 5: "int_val",
                6: "int_val", 9: "int64_val", 10: "bool_val"}

_F = descriptor_pb2.FieldDescriptorProto
#: (message, [(number, name, type, repeated, message type)]), "Parent.Child" for nested ones
#: (declared after their parent)
_MESSAGES = (
    ("TensorShapeProto", [(2, "dim", _F.TYPE_MESSAGE, True, "TensorShapeProto.Dim"),
                          (3, "unknown_rank", _F.TYPE_BOOL, False, None)]),
    ("TensorShapeProto.Dim", [(1, "size", _F.TYPE_INT64, False, None),
                              (2, "name", _F.TYPE_STRING, False, None)]),
    ("TensorProto", [(1, "dtype", _F.TYPE_INT32, False, None),
                     (2, "tensor_shape", _F.TYPE_MESSAGE, False, "TensorShapeProto"),
                     (4, "tensor_content", _F.TYPE_BYTES, False, None),
                     (5, "float_val", _F.TYPE_FLOAT, True, None),
                     (6, "double_val", _F.TYPE_DOUBLE, True, None),
                     (7, "int_val", _F.TYPE_INT32, True, None),
                     (8, "string_val", _F.TYPE_BYTES, True, None),
                     (10, "int64_val", _F.TYPE_INT64, True, None),
                     (11, "bool_val", _F.TYPE_BOOL, True, None)]),
    ("AttrValue", [(1, "list", _F.TYPE_MESSAGE, False, "AttrValue.ListValue"),
                   (2, "s", _F.TYPE_BYTES, False, None), (3, "i", _F.TYPE_INT64, False, None),
                   (4, "f", _F.TYPE_FLOAT, False, None), (5, "b", _F.TYPE_BOOL, False, None),
                   (6, "type", _F.TYPE_INT32, False, None),
                   (7, "shape", _F.TYPE_MESSAGE, False, "TensorShapeProto"),
                   (8, "tensor", _F.TYPE_MESSAGE, False, "TensorProto")]),
    ("AttrValue.ListValue", [(2, "s", _F.TYPE_BYTES, True, None), (3, "i", _F.TYPE_INT64, True, None),
                             (4, "f", _F.TYPE_FLOAT, True, None), (5, "b", _F.TYPE_BOOL, True, None),
                             (6, "type", _F.TYPE_INT32, True, None)]),
    ("NodeDef", [(1, "name", _F.TYPE_STRING, False, None), (2, "op", _F.TYPE_STRING, False, None),
                 (3, "input", _F.TYPE_STRING, True, None), (4, "device", _F.TYPE_STRING, False, None),
                 (5, "attr", _F.TYPE_MESSAGE, True, "NodeDef.AttrEntry")]),
    ("NodeDef.AttrEntry", [(1, "key", _F.TYPE_STRING, False, None),
                           (2, "value", _F.TYPE_MESSAGE, False, "AttrValue")]),
    ("GraphDef", [(1, "node", _F.TYPE_MESSAGE, True, "NodeDef")]),
)
_PACKAGE = "vstream_tf"  # our own package name: no clash with a real tensorflow in the process


@functools.cache
def _graph_def_class() -> type:
    """The `GraphDef` message class, built once from `_MESSAGES` in a private descriptor pool."""
    file = descriptor_pb2.FileDescriptorProto(name="vstream_tf_graph.proto", package=_PACKAGE,
                                              syntax="proto3")
    declared: dict[str, descriptor_pb2.DescriptorProto] = {}
    for name, fields in _MESSAGES:
        parent, _, short = name.rpartition(".")
        message = (declared[parent].nested_type if parent else file.message_type).add(name=short)
        declared[name] = message
        for number, field_name, kind, repeated, type_name in fields:
            field = message.field.add(name=field_name, number=number, type=kind,
                                      label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL)
            if type_name:
                field.type_name = f".{_PACKAGE}.{type_name}"
    declared["NodeDef.AttrEntry"].options.map_entry = True  # `map<string, AttrValue> attr`
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.GraphDef"))


def read_graph(path: str | pathlib.Path) -> Any:
    """The `GraphDef` of a frozen graph file: `.node[i]` with `.name`, `.op`, `.input` and
    `.attr[key]` (an `AttrValue`: `.f`, `.i`, `.b`, `.s`, `.list`, `.tensor`, `.shape`)."""
    graph = _graph_def_class()()
    graph.ParseFromString(pathlib.Path(path).read_bytes())
    return graph


def tensor_value(tensor: Any) -> np.ndarray:
    """A `TensorProto` as a NumPy array (read-only when it views the graph's bytes).

    Values come from `tensor_content` (raw little-endian bytes) or, for small constants, from
    the typed value field, where TensorFlow stores a tensor whose values are all equal as one
    value (or as fewer values than its size, the last repeated); strings give an object array.
    """
    shape = tuple(d.size for d in tensor.tensor_shape.dim)
    size = int(np.prod(shape, dtype=np.int64))
    if tensor.dtype == _DT_STRING:
        values = list(tensor.string_val)
        return np.array(values + values[-1:] * (size - len(values)), dtype=object).reshape(shape)
    if tensor.dtype not in _DTYPES:
        raise ValueError(f"unsupported TensorFlow dtype enum {tensor.dtype} (supported: "
                         f"{sorted(_DTYPES) + [_DT_STRING]})")
    dtype = np.dtype(_DTYPES[tensor.dtype]).newbyteorder("<")
    if tensor.tensor_content:
        return np.frombuffer(tensor.tensor_content, dtype).reshape(shape)
    values = np.asarray(getattr(tensor, _VALUE_FIELD[tensor.dtype]), dtype)
    if values.size == size:
        return values.reshape(shape)
    if values.size == 0 or values.size > size:
        raise ValueError(f"tensor of shape {shape} has {values.size} values")
    return np.concatenate([values, np.full(size - values.size, values[-1], dtype)]).reshape(shape)


def constants(graph: Any) -> dict[str, np.ndarray]:
    """{node name: value} of every `Const` node of a `GraphDef`."""
    return {node.name: tensor_value(node.attr["value"].tensor) for node in graph.node
            if node.op == "Const"}
