"""`padding_mode` on conv, depthwise and separable (contract §7): shapes and counts as with zeros,
the executor pads in PyTorch's mode — forward against the naive loops (the input padded element
by element, then the direct-definition conv), backward against finite differences (input, weight
and bias), the dX-only path, `verify --rf`, and (optional) PyTorch's Conv1d/2d/3d to 1e-5."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

import naive
from helpers import analyze_spec
from netcalc.cli import cli
from netcalc.executor import Executor
from test_structural import verify_rf_agrees

MODES = ("zeros", "reflect", "replicate", "circular")

CONVS = [  # (input shape per sample, entry): strides, dilation, groups, asymmetric and 'same' pads
    ([2, 7], {"conv": {"out": 4, "kernel": 3, "stride": 2, "padding": [[2, 1]], "groups": 2}}),
    ([3, 5, 6], {"conv": {"out": 2, "kernel": [3, 2], "padding": "same", "dilation": [1, 2]}}),
    ([2, 5, 4], {"depthwise": {"kernel": 3, "padding": [1, 2], "multiplier": 2, "stride": [2, 1]}}),
    ([2, 3, 4, 4], {"conv": {"out": 2, "kernel": 3, "padding": [1, 0, 2], "bias": False}}),
]


def _with_mode(entry, mode):
    (kind, params), = entry.items()
    return {kind: {**params, "padding_mode": mode}}


@pytest.mark.parametrize("mode", MODES)
def test_shapes_and_counts_do_not_depend_on_the_mode(mode):
    for shape, entry in CONVS:
        plain, moded = analyze_spec(shape, [entry]).layers[0], analyze_spec(shape, [_with_mode(entry, mode)]).layers[0]
        assert (moded.output, moded.params, moded.macs, moded.flops, moded.rf.size, moded.rf.start) == \
            (plain.output, plain.params, plain.macs, plain.flops, plain.rf.size, plain.rf.start)


def test_a_reflect_padded_conv_by_hand():
    # [1, 2, 3] reflect-padded by 1 is [2, 1, 2, 3, 2]; a [1, 1, 1] kernel sums each window:
    # 2+1+2 = 5, 1+2+3 = 6, 2+3+2 = 7 (zeros would give 3, 6, 5)
    a = analyze_spec([1, 3], [{"conv": {"out": 1, "kernel": 3, "padding": 1, "bias": False, "padding_mode": "reflect"}}])
    ex = Executor(a.graph, weights={"conv1.weight": np.ones((1, 1, 3))}, dtype=np.float64)
    x = np.array([[[1.0, 2.0, 3.0]]])
    assert ex.forward(x, keep=True).outputs["conv1"][0, 0].tolist() == [5, 6, 7]
    # the gradient of their sum: out0 = x1 + x0 + x1, out1 = x0 + x1 + x2, out2 = x1 + x2 + x1, so
    # x0 counts 2 times, x1 5 times, x2 2 times
    grad = ex.gradient(x, "conv1", (0, 0, slice(None))).input
    assert grad[0, 0].tolist() == [2, 5, 2]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", range(len(CONVS)))
def test_forward_matches_naive_and_backward_matches_finite_differences(mode, case):
    shape, entry = CONVS[case]
    a = analyze_spec(shape, [_with_mode(entry, mode)])
    node = a.layers[0].node
    ex = Executor(a.graph, dtype=np.float64, seed=1)
    x = ex.random_input(2, seed=2)
    fwd = ex.forward(x, keep=True, _caches=True)
    y = fwd.outputs[node.name]
    np.testing.assert_allclose(y, naive.LAYERS[node.kind.name](node, [x], ex.node_weights(node)), rtol=1e-10, atol=1e-12)
    dy = np.random.default_rng(3).standard_normal(y.shape)
    grads = ex.backward(x, fwd, node.name, dy)

    def loss(_):
        return float(np.sum(dy * ex.forward(x, keep=True).outputs[node.name]))

    np.testing.assert_allclose(grads.input, naive.numerical_grad(loss, x), rtol=1e-5, atol=1e-7)
    for key in ex.weights:
        np.testing.assert_allclose(grads.weights[key], naive.numerical_grad(loss, ex.weights[key]), rtol=1e-5,
                                   atol=1e-7, err_msg=key)
    # the dX-only path (verify --rf, erf) gives the same input gradient
    np.testing.assert_allclose(ex.backward(x, fwd, node.name, dy, weight_grads=False).input, grads.input,
                               rtol=1e-12, atol=1e-12)


def test_separable_passes_the_mode_to_its_depthwise_part_only():
    a = analyze_spec([2, 6, 6], [{"separable": {"out": 3, "kernel": 3, "padding": 1, "padding_mode": "circular"},
                                  "name": "s"}])
    depthwise, pointwise = (layer.node for layer in a.layers)
    assert depthwise.params["padding_mode"] == "circular" and pointwise.params["padding_mode"] == "zeros"
    ex = Executor(a.graph, dtype=np.float64)
    x = ex.random_input(1)
    out = ex.forward(x, keep=True).outputs
    expected = naive.conv_padding_mode(x, ex.weights["s.depthwise.weight"], ex.weights["s.depthwise.bias"], (1, 1),
                                       (1, 1), ((1, 1), (1, 1)), 2, (6, 6), "circular")
    np.testing.assert_allclose(out["s.depthwise"], expected, rtol=1e-10, atol=1e-12)


def test_verify_rf_probes_padding_modes_as_coordinates(tmp_path):
    # the field counts padding positions by coordinate in every mode (contract §7): verify --rf
    # must agree, and the probe runs the convs with zero padding
    verify_rf_agrees(tmp_path, "input: [2, 16, 16]\nlayers:\n"
                     "  - conv: {out: 4, kernel: 7, padding: 3, padding_mode: reflect}\n"
                     "  - depthwise: {kernel: 3, stride: 2, padding: 1, padding_mode: replicate}\n"
                     "  - separable: {out: 4, kernel: 3, padding: 2, dilation: 2, padding_mode: circular}\n", 4)


def test_explain_names_the_mode(tmp_path):
    spec = tmp_path / "m.yaml"
    spec.write_text("input: [1, 8, 8]\nlayers:\n  - conv: {out: 2, kernel: 3, padding: 1, padding_mode: reflect}\n")
    result = CliRunner().invoke(cli, ["explain", str(spec)])
    assert "padding_mode reflect: the pads hold copied input values; shape and counts as with zeros" in result.output


def _torch_conv(torch, node, raw_padding, mode):
    """PyTorch's module for the node: Conv{d}d with this padding_mode. netcalc's asymmetric
    [before, after] pairs have no module form; for those, the module gets padding 0 and its input
    F.pad(x, pairs, mode) — exactly what a Conv with a padding_mode does with its own pads."""
    g = node.geometry
    d = len(g.kernel)
    symmetric = raw_padding == "same" or all(b == a for b, a in g.pads)
    padding = raw_padding if raw_padding == "same" else [b for b, _ in g.pads] if symmetric else 0
    conv = getattr(torch.nn, f"Conv{d}d")(g.c_in, g.c_out, g.kernel, stride=g.stride, padding=padding,
                                          dilation=g.dilation, groups=g.groups, bias=node.params["bias"],
                                          padding_mode=mode if symmetric else "zeros", dtype=torch.float64)
    if symmetric:
        return conv, conv
    pairs = [p for pair in reversed(g.pads) for p in pair]  # F.pad: last axis first
    return conv, lambda t: conv(torch.nn.functional.pad(t, pairs, mode=mode))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("case", range(len(CONVS)))
def test_against_torch(mode, case):
    torch = pytest.importorskip("torch")
    shape, entry = CONVS[case]
    a = analyze_spec(shape, [_with_mode(entry, mode)])
    node = a.layers[0].node
    conv, run = _torch_conv(torch, node, next(iter(entry.values()))["padding"], mode)
    ex = Executor(a.graph, dtype=np.float64, seed=4)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(ex.weights[f"{node.name}.weight"]))
        if node.params["bias"]:
            conv.bias.copy_(torch.tensor(ex.weights[f"{node.name}.bias"]))
    x = ex.random_input(2, seed=5)
    xt = torch.tensor(x, requires_grad=True)
    yt = run(xt)
    fwd = ex.forward(x, keep=True, _caches=True)
    np.testing.assert_allclose(fwd.outputs[node.name], yt.detach().numpy(), rtol=1e-5, atol=1e-8)
    dy = np.random.default_rng(6).standard_normal(yt.shape)
    yt.backward(torch.tensor(dy))
    grads = ex.backward(x, fwd, node.name, dy)
    np.testing.assert_allclose(grads.input, xt.grad.numpy(), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(grads.weights[f"{node.name}.weight"], conv.weight.grad.numpy(), rtol=1e-5, atol=1e-8)


def test_the_memory_estimate_counts_the_padded_copy():
    # reflect padding 4 on a 3×10×10 input: the executor first builds a 3×18×18 copy per sample
    zeros, reflect = (analyze_spec([3, 10, 10], [{"conv": {"out": 2, "kernel": 3, "padding": 4,
                                                            "padding_mode": mode}}]).layers[0].node
                      for mode in ("zeros", "reflect"))
    extra = reflect.kind.workspace_bytes(reflect, 2, 4, 2**30) - zeros.kind.workspace_bytes(zeros, 2, 4, 2**30)
    assert extra == 2 * 4 * 3 * 18 * 18
