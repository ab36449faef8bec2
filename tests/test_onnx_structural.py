"""ONNX export and import of the structural types (contract §7 and §8): pad in every mode,
padding_mode on conv/depthwise/separable (a Pad `<conv>/pad` before the Conv, as PyTorch exports
it, read back as the one conv), slice, channel_shuffle and pixel_unshuffle (Reshape → Transpose →
Reshape in PyTorch's order), and instancenorm (the CycleGAN spec's norm), in 1-D to 3-D.
onnxruntime — an independent engine — runs each exported model and must equal netcalc's executor;
reading the file back gives the same layers."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import helper
from onnx_util import assert_close, fast_weights, layer_rows, model_bytes, netcalc_outputs, ort_outputs

from helpers import analyze_spec
from netcalc.analysis import analyze_graph
from netcalc.graph import build_graph
from netcalc.onnx.reader import load_onnx

SPECS = {
    "2d": ([4, 8, 8], [
        {"conv": {"out": 4, "kernel": 3, "padding": 1, "padding_mode": "reflect"}, "name": "c"},
        {"pad": {"padding": [[1, 1], 3], "mode": "replicate"}},
        {"depthwise": {"kernel": 3, "padding": [[2, 0], [0, 2]], "padding_mode": "circular"}},
        {"pixel_unshuffle": {"factor": 2}},
        {"channel_shuffle": {"groups": 4}},
        {"slice": {"start": 2, "end": -3}},
        {"pad": {"padding": 1, "value": 0.5}},
        # the CycleGAN generator's norm: without affine, scale and bias are Constant nodes and read
        # back as no parameters; with affine, initializers (2C parameters)
        "instancenorm",
        {"instancenorm": {"affine": True}},
    ]),
    "1d": ([3, 12], [
        {"pad": {"padding": [[3, 3]], "mode": "reflect"}},
        {"separable": {"out": 6, "kernel": 5, "padding": 2, "padding_mode": "replicate"}, "name": "s"},
        {"pixel_unshuffle": {"factor": 3}},
        {"channel_shuffle": {"groups": 3}},
        {"slice": {"end": 9}},
        {"pad": {"padding": 2, "mode": "circular"}},
    ]),
    "3d": ([2, 6, 6, 6], [
        {"pad": {"padding": [1, [0, 2], 1], "mode": "reflect"}},
        {"conv": {"out": 4, "kernel": 3, "padding": 1, "stride": 2, "padding_mode": "circular"}},
        {"pixel_unshuffle": {"factor": 2}},
        {"channel_shuffle": {"groups": 2}},
    ]),
}


def export(name, tmp_path, opset=19):
    shape, layers = SPECS[name]
    analysis = analyze_spec(shape, layers)
    weights = fast_weights(analysis.graph)
    path = tmp_path / f"{name}.onnx"
    path.write_bytes(model_bytes(analysis.graph, weights, opset))
    return analysis, weights, path


@pytest.mark.parametrize("opset", [17, 19])  # circular: Slice/Concat below 19, Pad 'wrap' from 19
@pytest.mark.parametrize("name", sorted(SPECS))
def test_export_runs_in_onnxruntime_and_reads_back_as_the_same_layers(name, opset, tmp_path):
    analysis, weights, path = export(name, tmp_path, opset)
    x = np.random.default_rng(0).normal(size=(2, *analysis.graph.input_shape)).astype(np.float32)
    (want,) = ort_outputs(path.read_bytes(), x).values()
    last = analysis.layers[-1].name
    assert_close(netcalc_outputs(analysis.graph, weights, x, [last])[last], want, what=last)
    back = load_onnx(path)
    assert layer_rows(analyze_graph(build_graph(back))) == layer_rows(analysis)
    assert [layer.node.params.get("padding_mode") for layer in analyze_graph(build_graph(back)).layers] == \
        [layer.node.params.get("padding_mode") for layer in analysis.layers]


def test_circular_padding_below_opset_19_is_slices_and_concats(tmp_path):
    """Pad has no 'wrap' mode before opset 19: netcalc writes PyTorch's TorchScript form instead."""
    import onnx

    _, _, path = export("1d", tmp_path, opset=17)
    ops = [node.op_type for node in onnx.load(str(path)).graph.node]
    assert "Concat" in ops and ops.count("Pad") == 2  # the reflect pad and the separable's replicate pad


def test_a_models_own_pad_before_a_conv_stays_a_pad_layer(tmp_path):
    # only netcalc's own `<conv>/pad` is folded into the conv; a ReflectionPad2d of a model is a layer
    nodes = [helper.make_node("Pad", ["x", "pads"], ["p"], mode="reflect", name="pad_in"),
             helper.make_node("Conv", ["p", "W"], ["y"], name="conv")]
    inits = {"pads": np.array([0, 0, 1, 1, 0, 0, 1, 1]), "W": np.ones((2, 3, 3, 3), np.float32)}
    from onnx import TensorProto, numpy_helper

    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    types = [layer.type for layer in analyze_graph(build_graph(load_onnx(path))).layers]
    assert types == ["pad", "conv"]
