"""The reference executor: real array shapes equal the calculator's, every layer's forward
equals the naive direct definitions in tests/naive.py, whole-network gradients equal central
finite differences, weights are validated, memory is estimated and refused before allocating."""

from __future__ import annotations

import pathlib
import sys
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netcalc.errors import SpecError
from netcalc.executor import (Executor, check_memory, estimate_memory, expected_weights, parse_bytes,
                              random_weights, validate_weights)
from netcalc.graph import build_graph
from netcalc.spec import load_spec_text

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import naive  # noqa: E402

FORWARD_TOL = dict(rtol=1e-9, atol=1e-11)
GRAD_TOL = dict(rtol=1e-5, atol=1e-7)


def graph_of(text: str):
    return build_graph(load_spec_text(text, "t.yaml"))


def run_shapes(graph, batch=2, dtype=np.float32):
    ex = Executor(graph, dtype=dtype, seed=1)
    return ex.forward(ex.random_input(batch, seed=2), keep=True)


# ---------------------------------------------------------------------------
# Shapes: executor == calculator
# ---------------------------------------------------------------------------

SHAPE_SPECS = {
    "every_type_2d": """
input: [3, 19, 17]
layers:
  - conv: {out: 8, kernel: 3, stride: 2, padding: [[1, 0], [2, 1]], dilation: [1, 2]}
  - batchnorm
  - relu6
  - maxpool: {kernel: 3, stride: 2, padding: 1, ceil_mode: true}
  - depthwise: {kernel: 3, padding: same, multiplier: 2}
    name: dw
  - conv: {out: 16, kernel: 1}
    from: dw
    name: pw
  - separable: {out: 16, kernel: 3, padding: 1}
    from: maxpool1
    name: sep
  - add:
    from: [pw, sep]
  - avgpool: {kernel: 2, stride: 1, count_include_pad: false, padding: 1}
  - lrn: {size: 3}
  - leaky_relu
  - gelu
  - silu
  - hardswish
  - sigmoid
  - tanh
  - dropout: {p: 0.2}
  - identity
  - global_avgpool:
    name: gate
  - mul:
    from: [identity1, gate]
  - adaptive_maxpool: {out: [3, 2]}
  - softmax
  - flatten
  - linear: {out: 10}
  - softmax
""",
    "unet_like": """
input: [2, 16, 16]
layers:
  - conv: {out: 4, kernel: 3, padding: 1}
    name: enc
  - maxpool: {kernel: 2}
  - conv: {out: 8, kernel: 3, padding: 1}
  - conv_transpose: {out: 4, kernel: 2, stride: 2}
    name: up
  - concat:
    from: [enc, up]
  - upsample: {scale: 2, mode: linear}
  - upsample: {size: [20, 40]}
  - conv_transpose: {out: 2, kernel: 3, stride: 3, padding: 1, output_padding: 2, dilation: 2, groups: 2}
  - adaptive_avgpool: {out: 5}
  - spp: {levels: [1, 2, 3], mode: avg}
""",
    "one_d": """
input: [4, 50]
layers:
  - conv: {out: 6, kernel: 5, stride: 2, dilation: 2, groups: 2}
  - maxpool: {kernel: 3, stride: 2, dilation: 2}
  - conv_transpose: {out: 4, kernel: 4, stride: 2, padding: 1}
  - upsample: {scale: 3, mode: linear}
  - avgpool: {kernel: 3, ceil_mode: true}
  - spp: {levels: [1, 4]}
""",
    "three_d": """
input: [2, 6, 7, 8]
layers:
  - conv: {out: 3, kernel: [3, 1, 3], padding: [1, 0, 1], stride: [1, 2, 1]}
  - maxpool: {kernel: 2, ceil_mode: true}
  - conv_transpose: {out: 2, kernel: 2, stride: 2}
  - upsample: {scale: 2, mode: linear}
  - global_maxpool
  - flatten
  - fc: {out: 3, bias: false}
""",
}


@pytest.mark.parametrize("name", sorted(SHAPE_SPECS))
def test_executor_shapes_equal_calculated_shapes(name):
    graph = graph_of(SHAPE_SPECS[name])
    result = run_shapes(graph)
    for node in graph.nodes:
        assert result.shapes[node.name] == node.out_shape, node.name
        assert result.outputs[node.name].shape == (2, *node.out_shape)
        assert result.outputs[node.name].dtype == np.float32
        assert np.all(np.isfinite(result.outputs[node.name])), node.name


@st.composite
def random_chain(draw):
    """A random 2-D chain of conv / pool / transposed conv / upsample, maybe ending in a
    residual branch (3×3 'same' conv added back onto the chain's output)."""
    size = draw(st.integers(8, 14))
    lines = [f"input: [2, {size}, {size + draw(st.integers(0, 3))}]", "layers:"]
    last = "input"
    for i in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["conv", "maxpool", "avgpool", "conv_transpose", "upsample"]))
        if kind == "conv":
            k, d = draw(st.integers(1, 3)), draw(st.integers(1, 2))
            lines.append(f"  - conv: {{out: 2, kernel: {k}, stride: {draw(st.integers(1, 2))}, "
                         f"dilation: {d}, padding: {d * (k - 1) // 2}}}")
        elif kind in ("maxpool", "avgpool"):
            lines.append(f"  - {kind}: {{kernel: 2, stride: {draw(st.integers(1, 2))}, "
                         f"ceil_mode: {str(draw(st.booleans())).lower()}}}")
        elif kind == "conv_transpose":
            lines.append(f"  - conv_transpose: {{out: 2, kernel: {draw(st.integers(1, 3))}, stride: 2}}")
        else:
            lines.append(f"  - upsample: {{scale: 2, mode: {draw(st.sampled_from(['nearest', 'linear']))}}}")
        last = f"l{i}"
        lines.append(f"    name: {last}")
    if draw(st.booleans()):
        d = draw(st.integers(1, 2))
        lines += [f"  - conv: {{out: 2, kernel: 3, padding: {d}, dilation: {d}}}", "    name: branch",
                  "  - add:", f"    from: [branch, {last}]"]
    return "\n".join(lines) + "\n"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_chain())
def test_random_specs_shapes(text):
    try:
        graph = graph_of(text)
    except SpecError:
        return  # e.g. a pool window larger than a shrunken input: rejected by the calculator
    result = run_shapes(graph, batch=1)
    assert result.shapes == {n.name: n.out_shape for n in graph.nodes}


# ---------------------------------------------------------------------------
# Per-layer forward against the naive references (float64, through the registry)
# ---------------------------------------------------------------------------

def single(layer: str, input_shape, seed=0, extra_inputs=0):
    """A spec with one layer (after `extra_inputs` identity branches merged into it)."""
    lines = [f"input: {list(input_shape)}", "layers:"]
    return graph_of("\n".join(lines + [f"  - {layer}"]) + "\n")


def forward_one(graph, seed=0):
    ex = Executor(graph, dtype=np.float64, seed=seed)
    x = ex.random_input(2, seed=seed + 1)
    node = graph.nodes[-1]
    y = ex.forward(x, keep=True).outputs[node.name]
    return x, y, ex.node_weights(node), node


CONV_CASES = [
    ("conv: {out: 4, kernel: 3, stride: 2, padding: [[1, 2], [0, 1]], dilation: [2, 1], groups: 2}", [4, 9, 8]),
    ("conv: {out: 3, kernel: [3], padding: same, dilation: 2}", [2, 11]),
    ("depthwise: {kernel: 2, stride: [1, 2, 1], multiplier: 2, bias: false}", [2, 3, 5, 4]),
]


@pytest.mark.parametrize("layer,shape", CONV_CASES)
def test_conv_layers_forward_match_naive(layer, shape):
    graph = single(layer, shape)
    x, y, w, node = forward_one(graph)
    groups = node.kind.channels(node)[2]
    ref = naive.conv(x, w["weight"], w.get("bias"), node.params["stride"], node.params["dilation"],
                     node.geometry.pads, groups, node.spatial_out)
    np.testing.assert_allclose(y, ref, **FORWARD_TOL)


@pytest.mark.parametrize("layer,shape", [
    ("conv_transpose: {out: 4, kernel: 3, stride: 2, padding: 1, output_padding: 1, groups: 2}", [2, 4, 5]),
    ("deconv: {out: 2, kernel: [2, 3, 1], stride: [2, 1, 3], dilation: [1, 2, 1]}", [3, 2, 3, 2]),
])
def test_conv_transpose_forward_matches_naive(layer, shape):
    graph = single(layer, shape)
    x, y, w, node = forward_one(graph)
    ref = naive.conv_transpose(x, w["weight"], w.get("bias"), node.params["stride"], node.params["dilation"],
                               node.geometry.pads, node.params["groups"], node.spatial_out)
    np.testing.assert_allclose(y, ref, **FORWARD_TOL)


@pytest.mark.parametrize("layer,shape", [
    ("maxpool: {kernel: 3, stride: 2, padding: 1, dilation: 1, ceil_mode: true}", [2, 8, 9]),
    ("maxpool: {kernel: [2, 3], stride: 1, dilation: [2, 1]}", [1, 6, 7]),
])
def test_maxpool_forward_matches_naive(layer, shape):
    x, y, _, node = forward_one(single(layer, shape))
    kernel, stride, dilation = node.geometry.kernel, node.geometry.stride, node.geometry.dilation
    ref, _ = naive.max_pool(x, kernel, stride, dilation, node.geometry.pads, node.spatial_out)
    np.testing.assert_allclose(y, ref, **FORWARD_TOL)


@pytest.mark.parametrize("layer,shape", [
    ("avgpool: {kernel: 3, stride: 2, padding: 1, ceil_mode: true, count_include_pad: false}", [2, 8, 9]),
    ("avgpool: {kernel: 2, padding: [[1, 0]]}", [3, 7]),
])
def test_avgpool_forward_matches_naive(layer, shape):
    x, y, _, node = forward_one(single(layer, shape))
    kernel, stride = node.geometry.kernel, node.geometry.stride
    ref = naive.avg_pool(x, kernel, stride, node.geometry.pads, node.spatial_out, node.params["count_include_pad"])
    np.testing.assert_allclose(y, ref, **FORWARD_TOL)


@pytest.mark.parametrize("layer,mode", [("adaptive_avgpool: {out: [3, 2]}", "avg"),
                                        ("adaptive_maxpool: {out: 4}", "max"),
                                        ("global_avgpool", "avg"), ("global_maxpool", "max")])
def test_adaptive_and_global_pooling_match_naive(layer, mode):
    x, y, _, node = forward_one(single(layer, [2, 7, 5]))
    np.testing.assert_allclose(y, naive.adaptive_pool(x, node.spatial_out, mode), **FORWARD_TOL)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_spp_matches_naive(mode):
    x, y, _, node = forward_one(single(f"spp: {{levels: [1, 2, 3], mode: {mode}}}", [2, 7, 5]))
    np.testing.assert_allclose(y, naive.spp(x, [1, 2, 3], mode), **FORWARD_TOL)


@pytest.mark.parametrize("layer,shape", [("upsample: {scale: 2, mode: linear}", [2, 3, 4]),
                                         ("upsample: {size: [5, 7]}", [1, 3, 4]),
                                         ("upsample: {scale: 3}", [2, 2, 2, 3])])
def test_upsample_matches_naive(layer, shape):
    x, y, _, node = forward_one(single(layer, shape))
    scale = node.kind._scale(node)
    np.testing.assert_allclose(y, naive.upsample(x, node.spatial_out, node.params["mode"], scale), **FORWARD_TOL)


def test_linear_batchnorm_lrn_match_naive():
    x, y, w, _ = forward_one(single("linear: {out: 4}", [6]))
    np.testing.assert_allclose(y, naive.linear(x, w["weight"], w["bias"]), **FORWARD_TOL)
    x, y, w, node = forward_one(single("batchnorm: {eps: 0.001}", [3, 4, 2]))
    np.testing.assert_allclose(y, naive.batchnorm(x, w["weight"], w["bias"], w["running_mean"],
                                                  w["running_var"], 0.001), **FORWARD_TOL)
    x, y, _, _ = forward_one(single("lrn: {size: 3, alpha: 0.5, beta: 0.6, k: 2}", [5, 3, 2]))
    np.testing.assert_allclose(y, naive.lrn(x, 3, 0.5, 0.6, 2.0), **FORWARD_TOL)


@pytest.mark.parametrize("name", ["relu", "relu6", "leaky_relu", "sigmoid", "tanh", "gelu", "silu",
                                  "hardswish", "softmax"])
def test_activations_match_naive(name):
    x, y, _, _ = forward_one(single(name, [4, 3, 2]))
    np.testing.assert_allclose(y, naive.activation(name, x * 1.0), **FORWARD_TOL)


def test_merges_and_flatten():
    graph = graph_of("""
input: [2, 3, 4]
layers:
  - global_avgpool:
  - mul:
    from: [input, global_avgpool1]
  - add:
    from: [input, mul1, input]
  - concat:
    from: [add1, input]
  - flatten
""")
    ex = Executor(graph, dtype=np.float64)
    x = ex.random_input(2, seed=5)
    out = ex.forward(x, keep=True).outputs
    gate = x.mean(axis=(2, 3), keepdims=True)
    np.testing.assert_allclose(out["mul1"], x * gate, **FORWARD_TOL)
    np.testing.assert_allclose(out["add1"], 2 * x + x * gate, **FORWARD_TOL)
    np.testing.assert_allclose(out["concat1"], np.concatenate([2 * x + x * gate, x], axis=1), **FORWARD_TOL)
    np.testing.assert_allclose(out["flatten1"], out["concat1"].reshape(2, -1), **FORWARD_TOL)


# ---------------------------------------------------------------------------
# Backward through a whole network vs central finite differences (float64)
# ---------------------------------------------------------------------------

GRAD_NET = """
input: [2, 7, 6]
layers:
  - conv: {out: 3, kernel: 3, padding: 1, dilation: [1, 2], stride: 1}
    name: c1
  - batchnorm
  - tanh
  - maxpool: {kernel: 2, ceil_mode: true}
  - conv: {out: 3, kernel: 1}
    name: skip
  - depthwise: {kernel: 3, padding: 1}
    from: maxpool1
  - add:
    from: [skip, depthwise1]
  - global_avgpool:
    name: gate
  - sigmoid
  - mul:
    from: [add1, sigmoid1]
  - conv_transpose: {out: 2, kernel: 3, stride: 2, padding: 1, output_padding: 1}
  - upsample: {scale: 2, mode: linear}
  - gelu
  - lrn: {size: 2}
  - avgpool: {kernel: 3, stride: 2, padding: 1, count_include_pad: false}
  - concat:
    from: [avgpool1, avgpool1]
  - spp: {levels: [1, 2]}
  - linear: {out: 3}
  - softmax
"""


def test_backward_matches_finite_differences_through_a_network():
    graph = graph_of(GRAD_NET)
    ex = Executor(graph, dtype=np.float64, seed=3)
    x = ex.random_input(2, seed=4)
    target, element = "softmax1", (1, 2)
    grads = ex.gradient(x, target, element)

    def value(_):
        return float(ex.forward(x, keep={target}).outputs[target][element])

    np.testing.assert_allclose(grads.input, naive.numerical_grad(value, x), **GRAD_TOL)
    assert np.abs(grads.input[1]).sum() > 0 and np.all(grads.input[0] == 0)  # samples are independent
    for name in ("c1.weight", "c1.bias", "batchnorm1.weight", "batchnorm1.bias", "depthwise1.weight",
                 "conv_transpose1.weight", "linear1.weight", "linear1.bias"):
        numeric = naive.numerical_grad(value, ex.weights[name])
        np.testing.assert_allclose(grads.weights[name], numeric, err_msg=name, **GRAD_TOL)


def test_backward_of_an_inner_layer_ignores_later_layers():
    graph = graph_of(GRAD_NET)
    ex = Executor(graph, dtype=np.float64, seed=3)
    x = ex.random_input(1, seed=4)
    grads = ex.gradient(x, "skip", (0, 1, 2, 1))
    assert not grads.weights["linear1.weight"].any()

    def value(_):
        return float(ex.forward(x, keep={"skip"}).outputs["skip"][0, 1, 2, 1])

    np.testing.assert_allclose(grads.input, naive.numerical_grad(value, x), **GRAD_TOL)


# ---------------------------------------------------------------------------
# Weights, memory and freeing
# ---------------------------------------------------------------------------

def test_weight_names_and_layouts_follow_pytorch():
    graph = graph_of(SHAPE_SPECS["unet_like"])
    shapes = expected_weights(graph)
    assert shapes["enc.weight"] == (4, 2, 3, 3)
    assert shapes["up.weight"] == (8, 4, 2, 2)  # conv_transpose: [in, out/groups, *k]
    assert shapes["conv_transpose2.weight"] == (8, 1, 3, 3)
    bn = expected_weights(graph_of("input: [3, 4, 4]\nlayers:\n  - batchnorm\n"))
    assert set(bn) == {"batchnorm1.weight", "batchnorm1.bias", "batchnorm1.running_mean", "batchnorm1.running_var"}


def test_weights_validation_names_layer_and_both_shapes():
    graph = graph_of(SHAPE_SPECS["unet_like"])
    good = random_weights(graph)
    validate_weights(graph, good)
    bad = dict(good, **{"up.weight": np.zeros((4, 8, 2, 2))})
    with pytest.raises(SpecError) as exc:
        validate_weights(graph, bad)
    assert exc.value.layer == "up" and "[4, 8, 2, 2]" in str(exc.value) and "[8, 4, 2, 2]" in str(exc.value)
    missing = {k: v for k, v in good.items() if k != "enc.bias"}
    with pytest.raises(SpecError, match=r"'enc.bias' is missing \(expected shape \[4\]\)"):
        Executor(graph, missing)
    with pytest.raises(SpecError, match="unexpected array 'enc.wieght'"):
        validate_weights(graph, dict(good, **{"enc.wieght": np.zeros(1)}))


def test_given_weights_are_used():
    graph = graph_of("input: [4]\nlayers:\n  - linear: {out: 2}\n")
    w = {"linear1.weight": np.arange(8.0).reshape(2, 4), "linear1.bias": np.array([1.0, -1.0])}
    y = Executor(graph, w, dtype=np.float64).forward(np.ones((1, 4)), keep=True).outputs["linear1"]
    np.testing.assert_array_equal(y, [[7.0, 21.0]])


def test_forward_frees_activations_it_no_longer_needs():
    graph = graph_of(SHAPE_SPECS["unet_like"])
    ex = Executor(graph)
    seen = []
    import gc

    def count_live(node):
        gc.collect()
        seen.append(sum(1 for o in gc.get_objects() if isinstance(o, np.ndarray) and o.ndim == 4 and o.shape[0] == 3))

    ex.forward(ex.random_input(3), on_layer=count_live)
    # `enc` is read by concat (layer 5) and must be alive until then, but no more than a few
    # batch-3 tensors are ever alive at once; after the spp only flat arrays remain.
    assert max(seen) <= 4 and seen[-1] == 0


def test_memory_estimate_bounds_a_real_pass():
    import tracemalloc

    graph = graph_of(SHAPE_SPECS["unet_like"])
    estimate = estimate_memory(graph, batch=4)
    ex = Executor(graph)
    x = ex.random_input(4)
    tracemalloc.start()
    ex.forward(x)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak <= estimate.peak


def test_memory_refusal_is_fast_and_allocates_nothing():
    graph = graph_of("""
input: [3, 16384, 16384]
layers:
  - conv: {out: 256, kernel: 3, padding: 1}
  - conv: {out: 256, kernel: 3, padding: 1}
""")
    t0 = time.perf_counter()
    with pytest.raises(SpecError, match=r"would need about .*GiB.*above the memory limit 2\.00 GiB"):
        check_memory(graph, 1, 4, parse_bytes("2GB"))
    assert time.perf_counter() - t0 < 1.0
    assert estimate_memory(graph, 1).peak > 100 * 2**30


def test_parse_bytes():
    assert parse_bytes("2GB") == 2 * 2**30
    assert parse_bytes("500M") == 500 * 10**6
    assert parse_bytes("1024") == 1024
    with pytest.raises(ValueError):
        parse_bytes("lots")


def test_input_shape_is_checked():
    ex = Executor(graph_of(SHAPE_SPECS["one_d"]))
    with pytest.raises(SpecError, match=r"expected \[N, 4, 50\]"):
        ex.forward(np.zeros((4, 50)))


# ---------------------------------------------------------------------------
# Optional: torch as an extra reference (never the only proof)
# ---------------------------------------------------------------------------

def test_against_torch_conv_transpose_and_pools():
    torch = pytest.importorskip("torch")
    graph = single("conv_transpose: {out: 4, kernel: 3, stride: 2, padding: 1, output_padding: 1, groups: 2}",
                   [2, 4, 5])
    x, y, w, _ = forward_one(graph)
    ref = torch.nn.functional.conv_transpose2d(torch.tensor(x), torch.tensor(w["weight"]), torch.tensor(w["bias"]),
                                               stride=2, padding=1, output_padding=1, groups=2)
    np.testing.assert_allclose(y, ref.numpy(), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("layer,shape", [
    ("maxpool: {kernel: 3, stride: 2, padding: 1, ceil_mode: true}", [2, 9, 8]),
    ("maxpool: {kernel: [2, 3, 2], stride: 1, dilation: [2, 1, 1]}", [1, 5, 6, 4]),
])
def test_maxpool_inference_path_equals_the_argmax_path(layer, shape):
    """Without a backward to come, max pooling skips its argmax: same values, NaN included."""
    graph = single(layer, shape)
    ex = Executor(graph, dtype=np.float64)
    x = ex.random_input(2)
    x[0, 0, 1, 1] = np.nan
    fast = ex.forward(x, keep=True).outputs["maxpool1"]
    full = ex.forward(x, keep=True, _caches=True).outputs["maxpool1"]
    np.testing.assert_array_equal(fast, full)
    g = graph.nodes[0].geometry
    ref, _ = naive.max_pool(np.nan_to_num(x, nan=-5.0), g.kernel, g.stride, g.dilation, g.pads,
                            graph.nodes[0].spatial_out)
    finite = ~np.isnan(fast)
    np.testing.assert_array_equal(fast[finite], ref[finite])


def test_in_place_relu_never_touches_live_or_caller_arrays():
    graph = graph_of("""
input: [2, 3, 3]
layers:
  - flatten:
  - relu:
  - conv: {out: 2, kernel: 1}
    from: input
    name: c
  - flatten:
    from: c
  - relu:
  - add:
    from: [relu2, flatten2]
""")
    ex = Executor(graph, dtype=np.float64)
    x = ex.random_input(2)
    before = x.copy()
    fast = ex.forward(x, keep={"add1"}).outputs["add1"]
    np.testing.assert_array_equal(x, before)  # the caller's array is untouched
    flat_c = ex.forward(x, keep=True).outputs["flatten2"]
    np.testing.assert_allclose(fast, np.maximum(flat_c, 0) + flat_c, **FORWARD_TOL)


def _resnet50_graph():
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "benchmarks"))
    from bench_executor import resnet50_spec

    return graph_of(resnet50_spec())


def test_resnet50_shapes_and_published_counts():
    """A full ResNet-50 at 224×224: every executor shape equals the calculated one, and the
    calculator's totals match the published 25,557,032 parameters (torchvision)."""
    from netcalc.analysis import analyze_graph

    graph = _resnet50_graph()
    assert analyze_graph(graph).total("params") == 25_557_032
    result = run_shapes(graph, batch=1)
    assert result.shapes == {n.name: n.out_shape for n in graph.nodes}
    assert result.outputs["fc"].shape == (1, 1000)


@pytest.mark.parametrize("keep_all", [False, True])
def test_memory_estimate_bounds_resnet50(keep_all):
    import tracemalloc

    graph = _resnet50_graph()
    ex = Executor(graph)
    x = ex.random_input(1)
    estimate = estimate_memory(graph, 1, keep_all=keep_all)
    tracemalloc.start()
    ex.forward(x, keep=keep_all)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak <= estimate.peak - estimate.weights  # weights and input were allocated before
    assert estimate.peak - estimate.weights < 4 * peak  # and the estimate is not wildly loose


@pytest.mark.parametrize("layer,shape", [
    ("relu", [2, 3, 3]), ("relu6", [2, 3, 3]), ("leaky_relu", [2, 3, 3]), ("silu", [2, 3, 3]),
    ("hardswish", [2, 3, 3]), ("dropout", [2, 3]), ("identity", [2, 3]), ("flatten", [2, 2, 3]),
    ("adaptive_maxpool: {out: [2, 2]}", [2, 5, 4]), ("adaptive_avgpool: {out: 3}", [2, 5, 4]),
    ("global_maxpool", [2, 3, 4]), ("upsample: {scale: 2}", [1, 3, 2]),
    ("upsample: {size: [4, 5, 3], mode: linear}", [1, 2, 3, 2]), ("spp: {levels: [1, 2], mode: avg}", [2, 4, 5]),
    ("maxpool: {kernel: 2, stride: 1, dilation: 2, padding: 1}", [1, 5, 5]),
    ("conv: {out: 2, kernel: [2, 3], dilation: [2, 1], padding: same}", [2, 5, 4]),
    ("conv: {out: 2, kernel: 2, stride: 2, groups: 2, padding: [[0, 1], [1, 0], [1, 1]]}", [2, 3, 3, 3]),
])
def test_every_layer_backward_matches_finite_differences(layer, shape):
    """Through the registry entry: d y[element] / d (x, weights) against central differences."""
    graph = single(layer, shape)
    ex = Executor(graph, dtype=np.float64, seed=11)
    x = ex.random_input(2, seed=12) * 3  # spread relu6/hardswish inputs across their kinks' sides
    node = graph.nodes[-1]
    element = (1,) + tuple(s // 2 for s in node.out_shape)
    grads = ex.gradient(x, node.name, element)

    def value(_):
        return float(ex.forward(x, keep=True).outputs[node.name][element])

    np.testing.assert_allclose(grads.input, naive.numerical_grad(value, x), **GRAD_TOL)
    for name, w in ex.weights.items():
        np.testing.assert_allclose(grads.weights[name], naive.numerical_grad(value, w), err_msg=name, **GRAD_TOL)


def test_in_place_relu_never_changes_a_view_of_its_input():
    # flatten `f` is a view of conv `c`; relu `r` is c's last reader. Overwriting c in place would
    # change f too, so the concat would differ between keeping every output and keeping only it.
    graph = graph_of("""
input: [2, 4, 4]
layers:
  - {conv: {out: 3, kernel: 3, padding: 1}, name: c}
  - {flatten: , name: f}
  - {relu: , name: r, from: c}
  - {flatten: , name: g}
  - {concat: , name: cat, from: [f, g]}
""")
    executor = Executor(graph, seed=3)
    x = executor.random_input(batch=2, seed=4)
    every = executor.forward(x, keep=True).outputs
    only = executor.forward(x, keep={"cat"}).outputs["cat"]
    np.testing.assert_array_equal(only, every["cat"])
    # and by definition: the first half is the conv's output, the second its rectified copy
    np.testing.assert_array_equal(only[:, :48], every["c"].reshape(2, -1))
    np.testing.assert_array_equal(only[:, 48:], np.maximum(every["c"], 0).reshape(2, -1))


def test_weights_drawn_in_chunks_are_the_same_values():
    """LayerType.random_weights fills large weights a chunk at a time in the executor's dtype (no
    float64 copy): the values are exactly those of one float64 draw, rounded."""
    from netcalc.layers.base import _drawn

    for draw in (lambda rng, n: rng.normal(0.0, 0.3, n), lambda rng, n: rng.uniform(0.5, 1.5, n) / 9):
        whole = draw(np.random.default_rng(4), (5, 3, 7)).astype(np.float32)
        rng = np.random.default_rng(4)
        chunked = _drawn((5, 3, 7), np.float32, lambda n: draw(rng, n), chunk=8)
        assert chunked.dtype == np.float32 and np.array_equal(chunked, whole)
