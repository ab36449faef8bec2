"""Reading ONNX models built with onnx.helper: every op's attributes map to the right layer.

Each model is checked three ways: onnxruntime (an independent engine) runs it and its output
equals `netcalc run` on the same file, initializers as weights (shapes and values); where a layer
has a hand-written YAML equivalent, the numbers of the model equal the spec's; and the layer
types are the ones expected (multi-node patterns are one layer)."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper
from onnx_util import assert_close, layer_rows, netcalc_outputs, ort_outputs

from helpers import analyze_spec
from netcalc.analysis import analyze_graph
from netcalc.graph import build_graph
from netcalc.onnx.reader import load_onnx

RNG = np.random.default_rng(7)


def make_model(nodes, inits=None, shape=(1, 3, 8, 8), opset=17, output=None, input_name="x"):
    """A model reading `input_name` of `shape` (None = symbolic; the batch always is) and writing the
    last node's output."""
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()]
    out = output or nodes[-1].output[0]
    dims = ["N"] + [f"d{i}" if d is None else d for i, d in enumerate(shape[1:])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def w(*shape, positive=False):
    values = RNG.normal(0, 0.5, shape).astype(np.float32)
    return np.abs(values) + 0.5 if positive else values


def read(model, tmp_path, input_shape=None):
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    spec = load_onnx(path, input_shape)
    return path, spec, analyze_graph(build_graph(spec))


def check(model, tmp_path, types=None, entries=None, input_shape=None, run_shape=None):
    """Read the model; compare with onnxruntime, the expected layer types and a YAML equivalent."""
    path, spec, analysis = read(model, tmp_path, input_shape)
    if types is not None:
        assert [layer.type for layer in analysis.layers] == types
    if entries is not None:
        want = analyze_spec(spec.input_shape, entries)
        assert layer_rows(analysis, with_names=False) == layer_rows(want, with_names=False)
    x = RNG.normal(size=run_shape or (2, *spec.input_shape)).astype(np.float32)
    want = ort_outputs(path.read_bytes(), x)
    (value,) = want.values()
    last = spec.layers[-1].name
    got = netcalc_outputs(build_graph(spec), spec.weights(), x, [last])[last]
    assert_close(got, value, what=last)
    return analysis


# ---- convolutions ----------------------------------------------------------------------------------
CONV_CASES = [
    # (attributes, weight shape, input shape, equivalent YAML entry)
    ({"pads": [0, 1, 2, 1], "strides": [2, 2]}, (4, 3, 3, 3), (1, 3, 9, 8),
     {"conv": {"out": 4, "kernel": 3, "stride": 2, "padding": [[0, 2], [1, 1]]}}),
    ({"auto_pad": "SAME_UPPER", "strides": [2, 2]}, (4, 3, 4, 4), (1, 3, 7, 7),
     {"conv": {"out": 4, "kernel": 4, "stride": 2, "padding": [[1, 2], [1, 2]]}}),
    ({"auto_pad": "SAME_LOWER", "strides": [2, 2]}, (4, 3, 4, 4), (1, 3, 7, 7),
     {"conv": {"out": 4, "kernel": 4, "stride": 2, "padding": [[2, 1], [2, 1]]}}),
    ({"auto_pad": "VALID", "dilations": [2, 3]}, (2, 3, 3, 3), (1, 3, 9, 9),
     {"conv": {"out": 2, "kernel": 3, "dilation": [2, 3]}}),
    ({"group": 3, "pads": [1, 1, 1, 1]}, (6, 2, 3, 3), (1, 6, 8, 8),
     {"conv": {"out": 6, "kernel": 3, "padding": 1, "groups": 3}}),
    ({"group": 4, "pads": [1, 1, 1, 1]}, (8, 1, 3, 3), (1, 4, 8, 8),
     {"depthwise": {"kernel": 3, "padding": 1, "multiplier": 2}}),
    ({"strides": [3]}, (5, 2, 4), (1, 2, 20), {"conv": {"out": 5, "kernel": 4, "stride": 3}}),
    ({"pads": [1, 0, 1, 1, 0, 1]}, (2, 2, 3, 2, 3), (1, 2, 5, 6, 7),
     {"conv": {"out": 2, "kernel": [3, 2, 3], "padding": [1, 0, 1]}}),
]


@pytest.mark.parametrize("attrs, wshape, shape, entry", CONV_CASES)
def test_conv_attributes(attrs, wshape, shape, entry, tmp_path):
    node = helper.make_node("Conv", ["x", "W", "B"], ["y"], name="c", **attrs)
    check(make_model([node], {"W": w(*wshape), "B": w(wshape[0])}, shape), tmp_path, entries=[entry])


def test_conv_without_bias_and_kernel_shape(tmp_path):
    node = helper.make_node("Conv", ["x", "W"], ["y"], kernel_shape=[3, 3], name="c")
    a = check(make_model([node], {"W": w(4, 3, 3, 3)}), tmp_path, entries=[{"conv": {"out": 4, "kernel": 3, "bias": False}}])
    assert a.layers[0].params == 4 * 3 * 9


TRANSPOSED_CASES = [
    ({"strides": [2, 2]}, (3, 4, 2, 2), (1, 3, 5, 5), {"conv_transpose": {"out": 4, "kernel": 2, "stride": 2}}),
    ({"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 1]}, (3, 2, 3, 3), (1, 3, 5, 5),
     {"conv_transpose": {"out": 2, "kernel": 3, "stride": 2, "padding": 1, "output_padding": 1}}),
    ({"strides": [2, 2], "output_shape": [10, 10]}, (3, 2, 3, 3), (1, 3, 5, 5),  # total pad 1: 1 before, 0 after
     {"conv_transpose": {"out": 2, "kernel": 3, "stride": 2, "padding": [[1, 0], [1, 0]]}}),
    ({"group": 3, "dilations": [2, 2]}, (6, 1, 3, 3), (1, 6, 4, 4),
     {"conv_transpose": {"out": 3, "kernel": 3, "dilation": 2, "groups": 3}}),
]


@pytest.mark.parametrize("attrs, wshape, shape, entry", TRANSPOSED_CASES)
def test_conv_transpose_attributes(attrs, wshape, shape, entry, tmp_path):
    node = helper.make_node("ConvTranspose", ["x", "W", "B"], ["y"], name="t", **attrs)
    out = wshape[1] * attrs.get("group", 1)
    check(make_model([node], {"W": w(*wshape), "B": w(out)}, shape), tmp_path, entries=[entry])


# ---- pooling ---------------------------------------------------------------------------------------
POOL_CASES = [
    ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}, (1, 2, 8, 8),
     {"maxpool": {"kernel": 3, "stride": 2, "ceil_mode": True}}),
    ("MaxPool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "dilations": [2, 2]}, (1, 2, 9, 9),
     {"maxpool": {"kernel": 3, "stride": 1, "padding": 1, "dilation": 2}}),
    ("MaxPool", {"kernel_shape": [2, 2]}, (1, 2, 6, 6), {"maxpool": {"kernel": 2, "stride": 1}}),  # ONNX stride 1
    ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, (1, 2, 7, 7),
     {"avgpool": {"kernel": 3, "stride": 2, "padding": 1, "count_include_pad": False}}),
    ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "count_include_pad": 1,
                     "ceil_mode": 1}, (1, 2, 8, 8),
     {"avgpool": {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True}}),
]


@pytest.mark.parametrize("op_type, attrs, shape, entry", POOL_CASES)
def test_pool_attributes(op_type, attrs, shape, entry, tmp_path):
    check(make_model([helper.make_node(op_type, ["x"], ["y"], name="p", **attrs)], {}, shape), tmp_path,
          entries=[entry])


def test_reduce_mean_over_space_is_global_pooling(tmp_path):
    nodes = [helper.make_node("ReduceMean", ["x", "axes"], ["y"], keepdims=0, name="gap")]
    check(make_model(nodes, {"axes": np.array([2, 3])}, opset=18), tmp_path, types=["global_avgpool", "flatten"])


# ---- dense and reshaping ---------------------------------------------------------------------------
def test_gemm_without_transposition_with_alpha_beta(tmp_path):
    nodes = [helper.make_node("Flatten", ["x"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "W", "C"], ["y"], alpha=0.5, beta=2.0, name="fc")]
    check(make_model(nodes, {"W": w(48, 5), "C": w(5)}, (1, 3, 4, 4)), tmp_path,
          entries=["flatten", {"linear": {"out": 5}}])


def test_matmul_add_is_one_linear_layer(tmp_path):
    nodes = [helper.make_node("Flatten", ["x"], ["f"]), helper.make_node("MatMul", ["f", "W"], ["m"]),
             helper.make_node("Add", ["m", "b"], ["y"])]
    check(make_model(nodes, {"W": w(48, 7), "b": w(7)}, (1, 3, 4, 4)), tmp_path, types=["flatten", "linear"])


def test_shape_arithmetic_feeding_reshape_is_folded(tmp_path):
    """PyTorch's x.view(x.size(0), -1): Shape → Gather → Unsqueeze → Concat → Reshape = flatten."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["y"], name="view")]
    inits = {"zero": np.array(0, np.int64), "axes": np.array([0], np.int64), "minus1": np.array([-1], np.int64)}
    check(make_model(nodes, inits, (None, 3, 4, 4)), tmp_path, types=["flatten"], input_shape=(3, 4, 4))


def test_resize_with_sizes_from_a_shape_chain_and_with_scales(tmp_path):
    nodes = [helper.make_node("Resize", ["x", "", "scales"], ["u"], mode="nearest",
                              coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
             helper.make_node("Shape", ["u"], ["s"]),
             helper.make_node("Slice", ["s", "zero", "two"], ["nc"]),
             helper.make_node("Concat", ["nc", "hw"], ["sizes"], axis=0),
             helper.make_node("Resize", ["u", "", "", "sizes"], ["y"], mode="linear",
                              coordinate_transformation_mode="half_pixel")]
    inits = {"scales": np.array([1, 1, 2, 2], np.float32), "zero": np.array([0]), "two": np.array([2]),
             "hw": np.array([11, 13])}
    check(make_model(nodes, inits, (1, 2, 4, 5)), tmp_path,
          entries=[{"upsample": {"scale": 2}}, {"upsample": {"size": [11, 13], "mode": "linear"}}])


# ---- element-wise and patterns ---------------------------------------------------------------------
def _unary(op_type, **attrs):
    return [helper.make_node(op_type, ["x"], ["y"], name="a", **attrs)]


@pytest.mark.parametrize("nodes, inits, types", [
    (_unary("Relu"), {}, ["relu"]),
    (_unary("Sigmoid"), {}, ["sigmoid"]),
    (_unary("Tanh"), {}, ["tanh"]),
    (_unary("LeakyRelu", alpha=0.01), {}, ["leaky_relu"]),
    (_unary("HardSwish"), {}, ["hardswish"]),
    (_unary("Softmax", axis=1), {}, ["softmax"]),
    (_unary("LRN", size=3, alpha=1e-3, beta=0.75, bias=2.0), {}, ["lrn"]),
    ([helper.make_node("Clip", ["x", "lo", "hi"], ["y"])], {"lo": np.float32(0), "hi": np.float32(6)}, ["relu6"]),
    ([helper.make_node("Sigmoid", ["x"], ["s"], name="/act/Sigmoid"),
      helper.make_node("Mul", ["x", "s"], ["y"], name="/act/Mul")], {}, ["silu"]),
    ([helper.make_node("HardSigmoid", ["x"], ["s"], alpha=1 / 6, beta=0.5),
      helper.make_node("Mul", ["x", "s"], ["y"])], {}, ["hardswish"]),
    ([helper.make_node("Add", ["x", "three"], ["a"]), helper.make_node("Clip", ["a", "lo", "hi"], ["c"]),
      helper.make_node("Mul", ["x", "c"], ["m"]), helper.make_node("Div", ["m", "six"], ["y"])],
     {"three": np.float32(3), "lo": np.float32(0), "hi": np.float32(6), "six": np.float32(6)}, ["hardswish"]),
    ([helper.make_node("Add", ["x", "three"], ["a"]), helper.make_node("Clip", ["a", "lo", "hi"], ["c"]),
      helper.make_node("Div", ["c", "six"], ["d"]), helper.make_node("Mul", ["d", "x"], ["y"])],
     {"three": np.float32(3), "lo": np.float32(0), "hi": np.float32(6), "six": np.float32(6)}, ["hardswish"]),
    ([helper.make_node("Div", ["x", "sqrt2"], ["d"]), helper.make_node("Erf", ["d"], ["e"]),
      helper.make_node("Add", ["e", "one"], ["a"]), helper.make_node("Mul", ["x", "a"], ["m"]),
      helper.make_node("Mul", ["m", "half"], ["y"])],
     {"sqrt2": np.float32(2 ** 0.5), "one": np.float32(1), "half": np.float32(0.5)}, ["gelu"]),
    ([helper.make_node("BatchNormalization", ["x", "g", "b", "m", "v"], ["y"], epsilon=1e-3)],
     {"g": w(3), "b": w(3), "m": w(3), "v": w(3, positive=True)}, ["batchnorm"]),
    ([helper.make_node("Dropout", ["x"], ["y"]), ], {}, ["dropout"]),
    ([helper.make_node("Identity", ["x"], ["y"])], {}, ["identity"]),
])
def test_elementwise_ops_and_patterns(nodes, inits, types, tmp_path):
    check(make_model(nodes, inits), tmp_path, types=types)


def test_merges_and_squeeze_excitation(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="r"),
             helper.make_node("Add", ["x", "r"], ["a"], name="add"),
             helper.make_node("GlobalAveragePool", ["a"], ["g"], name="squeeze"),
             helper.make_node("Sigmoid", ["g"], ["s"], name="gate"),
             helper.make_node("Mul", ["a", "s"], ["m"], name="excite"),
             helper.make_node("Concat", ["m", "x"], ["y"], axis=1, name="cat")]
    check(make_model(nodes), tmp_path, types=["relu", "add", "global_avgpool", "sigmoid", "mul", "concat"])


def test_exporter_scopes_become_module_paths(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], name="/layer1/layer1.0/conv1/Conv"),
             helper.make_node("Relu", ["c"], ["r"], name="/layer1/layer1.0/relu/Relu"),
             helper.make_node("Add", ["r", "c"], ["a"], name="/layer1/layer1.0/Add"),
             helper.make_node("Relu", ["a"], ["y"], name="/layer1/layer1.0/relu_1/Relu")]
    _, spec, _ = read(make_model(nodes, {"W": w(3, 3, 1, 1)}), tmp_path)
    assert [d.name for d in spec.layers] == ["layer1.0.conv1", "layer1.0.relu", "layer1.0.add", "layer1.0.relu_1"]


def _contract7_models():
    """type → (a model whose op or pattern maps to it, the layer types read). Every pattern here is
    recognised now: without the type, reading names the missing type (not an unsupported op)."""
    ln_nodes = [helper.make_node("ReduceMean", ["t"], ["mean"], axes=[-1]),
                helper.make_node("Sub", ["t", "mean"], ["d"]),
                helper.make_node("Pow", ["d", "two"], ["sq"]),
                helper.make_node("ReduceMean", ["sq"], ["var"], axes=[-1]),
                helper.make_node("Add", ["var", "eps"], ["ve"]),
                helper.make_node("Sqrt", ["ve"], ["std"]),
                helper.make_node("Div", ["d", "std"], ["n"]),
                helper.make_node("Mul", ["n", "g"], ["gn"]),
                helper.make_node("Add", ["gn", "b"], ["lt"])]
    ln_inits = {"two": np.float32(2), "eps": np.float32(1e-5), "g": w(4), "b": w(4)}
    to_last = helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1])
    to_first = helper.make_node("Transpose", ["lt"], ["y"], perm=[0, 3, 1, 2])
    clip = {"three": np.float32(3), "lo": np.float32(0), "hi": np.float32(6), "six": np.float32(6)}
    return {
        "layernorm": [
            (make_model([helper.make_node("Flatten", ["x"], ["f"]),
                         helper.make_node("LayerNormalization", ["f", "g", "b"], ["y"], name="ln")],
                        {"g": w(12), "b": w(12)}, (1, 3, 2, 2)), ["flatten", "layernorm"]),
            (make_model([to_last, helper.make_node("LayerNormalization", ["t", "g", "b"], ["lt"], axis=-1),
                         to_first], {"g": w(4), "b": w(4)}, (1, 4, 3, 3)), ["layernorm"]),
            (make_model([to_last, *ln_nodes, to_first], ln_inits, (1, 4, 3, 3)), ["layernorm"])],
        "channel_shuffle": [(make_model(
            [helper.make_node("Reshape", ["x", "s1"], ["r1"]),
             helper.make_node("Transpose", ["r1"], ["t"], perm=[0, 2, 1, 3, 4]),
             helper.make_node("Reshape", ["t", "s2"], ["y"])],
            # batch -1: the check runs a batch of 2 (a fixed 1 would not reshape)
            {"s1": np.array([-1, 2, 2, 8, 8]), "s2": np.array([-1, 4, 8, 8])}, (1, 4, 8, 8)), ["channel_shuffle"])],
        "hardsigmoid": [
            (make_model(_unary("HardSigmoid", alpha=1 / 6, beta=0.5)), ["hardsigmoid"]),
            (make_model([helper.make_node("Add", ["x", "three"], ["a"]), helper.make_node("Clip", ["a", "lo", "hi"], ["c"]),
                         helper.make_node("Div", ["c", "six"], ["y"])], clip), ["hardsigmoid"])],
        "hardtanh": [(make_model([helper.make_node("Clip", ["x", "lo", "hi"], ["y"])],
                                 {"lo": np.float32(-2), "hi": np.float32(2)}), ["hardtanh"])],
        "elu": [(make_model(_unary("Elu", alpha=0.5)), ["elu"])],
        "selu": [(make_model(_unary("Selu")), ["selu"])],
        "softplus": [(make_model(_unary("Softplus")), ["softplus"])],
        "mish": [(make_model(_unary("Mish"), opset=18), ["mish"]),
                 (make_model([helper.make_node("Softplus", ["x"], ["s"]), helper.make_node("Tanh", ["s"], ["t"]),
                              helper.make_node("Mul", ["x", "t"], ["y"])]), ["mish"])],
        "prelu": [(make_model([helper.make_node("PRelu", ["x", "slope"], ["y"])],
                              {"slope": w(3, 1, 1, positive=True)}), ["prelu"])],
        "scale": [(make_model([helper.make_node("Mul", ["x", "gamma"], ["y"])], {"gamma": w(3, 1, 1)}), ["scale"])],
        "instancenorm": [(make_model([helper.make_node("InstanceNormalization", ["x", "g", "b"], ["y"])],
                                     {"g": w(3), "b": w(3)}), ["instancenorm"])],
        "groupnorm": [(make_model([helper.make_node("GroupNormalization", ["x", "g", "b"], ["y"], num_groups=2)],
                                  {"g": w(4), "b": w(4)}, (1, 4, 5, 5), opset=21), ["groupnorm"])],
        "pixel_shuffle": [(make_model([helper.make_node("DepthToSpace", ["x"], ["y"], blocksize=2, mode="CRD")],
                                      {}, (1, 8, 3, 3)), ["pixel_shuffle"])],
        "pixel_unshuffle": [(make_model([helper.make_node("SpaceToDepth", ["x"], ["y"], blocksize=2)], {},
                                        (1, 1, 6, 6)), ["pixel_unshuffle"])],
        "pad": [(make_model([helper.make_node("Pad", ["x", "pads"], ["y"], mode="reflect")],
                            {"pads": np.array([0, 0, 1, 2, 0, 0, 2, 1])}), ["pad"])],
        "slice": [(make_model([helper.make_node("Split", ["x", "sizes"], ["a", "b"], axis=1),
                               helper.make_node("Add", ["a", "a"], ["y"])], {"sizes": np.array([2, 2])},
                              (1, 4, 5, 5)), ["slice", "slice", "add"]),
                  (make_model([helper.make_node("Slice", ["x", "s", "e", "ax"], ["y"])],
                              {"s": np.array([1]), "e": np.array([3]), "ax": np.array([1])}), ["slice"])],
    }


@pytest.mark.parametrize("type_name", sorted(_contract7_models()))
def test_layer_types_of_contract_7_are_recognised(type_name, tmp_path):
    """Ops and patterns for the §7 types: checked against onnxruntime once the type exists; until
    then a clear error naming the missing type — never a silent zero, never 'unsupported op'."""
    from netcalc.errors import SpecError
    from netcalc.layers import REGISTRY, load_all

    load_all()
    for model, types in _contract7_models()[type_name]:
        if type_name in REGISTRY:
            check(model, tmp_path, types=types)
            continue
        with pytest.raises(SpecError, match=f"layer type '{type_name}'.*does not have yet"):
            read(model, tmp_path)


# ---- symbolic input, names, weights ----------------------------------------------------------------
def test_symbolic_spatial_dims_need_input_shape(tmp_path):
    from netcalc.errors import SpecError

    model = make_model(_unary("Relu"), {}, (None, 3, None, None))
    with pytest.raises(SpecError, match=r"symbolic dims; give the size with --input-shape 3,\?,\?"):
        read(model, tmp_path)
    _, spec, _ = read(model, tmp_path, (3, 10, 12))
    assert spec.input_shape == (3, 10, 12)
    with pytest.raises(SpecError, match="disagrees"):
        read(model, tmp_path, (4, 10, 12))


def test_truncated_or_mangled_models_are_one_error_never_a_crash(tmp_path):
    """Cut a real model at many places, or flip bytes in it: always a SpecError (or a readable
    model), never another exception — the skimmer checks every length against the file."""
    from netcalc.errors import SpecError

    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["y"], name="relu")]
    data = make_model(nodes, {"W": w(16, 3, 3, 3), "B": w(16)}).SerializeToString()  # W's raw data is skimmed
    path = tmp_path / "m.onnx"
    rng = np.random.default_rng(0)
    cuts = sorted(set(rng.integers(1, len(data), 40).tolist()))
    variants = [data[:cut] for cut in cuts]
    for _ in range(40):
        mangled = bytearray(data)
        for i in rng.integers(0, len(data), 4):
            mangled[i] = int(rng.integers(0, 256))
        variants.append(bytes(mangled))
    for variant in variants:
        path.write_bytes(variant)
        try:
            spec = load_onnx(path)
            build_graph(spec)
        except SpecError as exc:
            assert "\n" not in str(exc)


def test_skimmed_weights_are_read_back_exactly(tmp_path):
    """Large initializers stay in the file while reading; `run`'s weights come back bit for bit."""
    weight, bias = w(16, 3, 5, 5), w(16)
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["y"], name="conv")]
    _, spec, _ = read(make_model(nodes, {"W": weight, "B": bias}), tmp_path)
    weights = spec.weights()
    np.testing.assert_array_equal(weights["conv.weight"], weight)
    np.testing.assert_array_equal(weights["conv.bias"], bias)
