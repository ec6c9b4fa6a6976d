"""Reading TensorFlow frozen graphs without TensorFlow: constants in each of their encodings."""

from __future__ import annotations

import numpy as np
import pytest

from vstream.detect.teachers import tf_graph


def _const(name: str, dtype: int, shape: tuple[int, ...], **values) -> object:
    """A GraphDef holding one Const node, its TensorProto filled with `values`."""
    graph = tf_graph._graph_def_class()()
    node = graph.node.add(name=name, op="Const")
    tensor = node.attr["value"].tensor
    tensor.dtype = dtype
    for size in shape:
        tensor.tensor_shape.dim.add(size=size)
    for field, value in values.items():
        if field == "tensor_content":
            tensor.tensor_content = value
        else:
            getattr(tensor, field).extend(value)
    # through the wire format, as a .pb file would arrive
    parsed = tf_graph._graph_def_class()()
    parsed.ParseFromString(graph.SerializeToString())
    return parsed


@pytest.mark.parametrize(("dtype", "shape", "values", "expected"), [
    # raw little-endian bytes, the encoding of every weight in a frozen graph
    (1, (2, 3), {"tensor_content": np.arange(6, dtype="<f4").tobytes()},
     np.arange(6, dtype=np.float32).reshape(2, 3)),
    (3, (2,), {"tensor_content": np.array([7, -1], "<i4").tobytes()}, np.array([7, -1], np.int32)),
    # typed fields, as small constants are stored
    (1, (), {"float_val": [0.5]}, np.float32(0.5)),
    (3, (3,), {"int_val": [1, 2, 3]}, np.array([1, 2, 3], np.int32)),
    (9, (2,), {"int64_val": [1 << 40, -2]}, np.array([1 << 40, -2], np.int64)),
    (2, (1,), {"double_val": [0.25]}, np.array([0.25])),
    (10, (2,), {"bool_val": [True, False]}, np.array([True, False])),
    # fewer values than elements: the last one repeats (TensorFlow's compact fill)
    (1, (2, 2), {"float_val": [3.0]}, np.full((2, 2), 3.0, np.float32)),
    (3, (4,), {"int_val": [1, 2]}, np.array([1, 2, 2, 2], np.int32)),
    (7, (2,), {"string_val": [b"a", b"b"]}, np.array([b"a", b"b"], dtype=object)),
])
def test_constant_values(dtype: int, shape: tuple[int, ...], values: dict, expected: np.ndarray) -> None:
    got = tf_graph.constants(_const("c", dtype, shape, **values))["c"]
    assert got.dtype == np.asarray(expected).dtype
    assert got.shape == np.shape(expected)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(("dtype", "shape", "values", "error"), [
    (19, (1,), {"int_val": [1]}, "unsupported TensorFlow dtype"),  # DT_HALF
    (3, (2,), {}, "has 0 values"),
    (3, (1,), {"int_val": [1, 2]}, "has 2 values"),
])
def test_bad_constants(dtype: int, shape: tuple[int, ...], values: dict, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        tf_graph.constants(_const("c", dtype, shape, **values))


def test_node_attributes_survive_parsing() -> None:
    graph = tf_graph._graph_def_class()()
    node = graph.node.add(name="conv", op="Conv2D", input=["x", "w"])
    node.attr["padding"].s = b"SAME"
    node.attr["strides"].list.i.extend([1, 2, 2, 1])
    node.attr["epsilon"].f = 0.001
    parsed = tf_graph._graph_def_class()()
    parsed.ParseFromString(graph.SerializeToString())
    (conv,) = parsed.node
    assert (conv.name, conv.op, list(conv.input)) == ("conv", "Conv2D", ["x", "w"])
    assert conv.attr["padding"].s == b"SAME"
    assert list(conv.attr["strides"].list.i) == [1, 2, 2, 1]
    assert conv.attr["epsilon"].f == pytest.approx(0.001)
    assert "missing" not in conv.attr
