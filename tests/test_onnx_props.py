"""Reading an ONNX file's metadata_props without the onnx package gives what onnx reads."""

from __future__ import annotations

import onnx
import pytest
from onnx import TensorProto, helper

from fer_video.export.props import read_metadata_props


def small_model(path, props: dict[str, str]) -> None:
    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        initializer=[helper.make_tensor("w", TensorProto.FLOAT, [256], [0.5] * 256)],
    )  # fmt: skip
    model = helper.make_model(graph, producer_name="test", doc_string="a model")
    helper.set_model_props(model, props)
    onnx.save(model, str(path))


def test_props_match_onnx(tmp_path):
    path = tmp_path / "m.onnx"
    props = {"fer_video": '{"kind": "classifier", "classes": ["ä", "b"]}', "other": "", "x" * 300: "long key"}
    small_model(path, props)
    assert read_metadata_props(path) == {e.key: e.value for e in onnx.load(str(path)).metadata_props} == props


def test_a_model_without_props_and_broken_files(tmp_path):
    path = tmp_path / "plain.onnx"
    small_model(path, {})
    assert read_metadata_props(path) == {}
    data = path.read_bytes()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.onnx").write_bytes(b"\x00 not a protobuf \xff" * 10)
    for name in ("cut.onnx", "junk.onnx"):
        with pytest.raises(ValueError):
            read_metadata_props(tmp_path / name)
