"""The activations of contract §7 (issue 9): hardtanh, elu, selu, prelu, mish, softplus.

Values and gradients worked by hand from PyTorch's documented definitions (including which side of
a kink PyTorch's backward takes), `run` with PyTorch's prelu weights, the rf probe through
saturation, and (optional, skipped without torch) the PyTorch modules themselves. Elsewhere: the
registry-completeness test (tests/test_registry.py) runs the naive float64 references
(tests/naive.py), finite differences and the brute-force receptive field (tests/test_rf.py) for
each of them; tests/test_errors.py their located one-line errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from click.testing import CliRunner

from helpers import analyze_spec
from netcalc.cli import cli
from netcalc.executor import Executor
from netcalc.layers import lookup

E = math.e
SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
X = np.array([-2.0, -1.0, 0.0, 0.5, 1.0, 3.0])


def run(analysis, x, dy, weights=None, dtype=np.float64):
    """(y, dx, weight gradients) of a one-layer network."""
    name = analysis.layers[0].name
    ex = Executor(analysis.graph, weights=weights, dtype=dtype)
    fwd = ex.forward(x.astype(dtype), keep=True, _caches=True)
    grads = ex.backward(x.astype(dtype), fwd, name, dy.astype(dtype))
    assert fwd.outputs[name].dtype == dtype and grads.input.dtype == dtype
    return fwd.outputs[name], grads.input, grads.weights


def forward_and_grad(shape, entry, x, dy, weights=None):
    return run(analyze_spec(shape, [entry]), x, dy, weights)


def by_hand(entry, y, dx):
    x = X.reshape(1, 1, -1)
    got_y, got_dx, _ = forward_and_grad([1, X.size], entry, x, np.ones_like(x))
    np.testing.assert_allclose(got_y[0, 0], y, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got_dx[0, 0], dx, rtol=1e-12, atol=1e-15)


def test_hardtanh_by_hand():
    # clip to [−1, 1]; gradient 1 only strictly inside (PyTorch: 0 at x = −1 and x = 1)
    by_hand("hardtanh", [-1, -1, 0, 0.5, 1, 1], [0, 0, 1, 1, 0, 0])
    # PyTorch's names min_val/max_val; [0, 2]: 0 at x ≤ 0, 2 above
    by_hand({"hardtanh": {"min_val": 0, "max_val": 2}}, [0, 0, 0, 0.5, 1, 2], [0, 0, 0, 1, 1, 0])


def test_elu_and_selu_by_hand():
    # α(e^x − 1) for x ≤ 0, gradient α·e^x there (α at x = 0 itself, as PyTorch), 1 above
    a = 0.5
    by_hand({"elu": {"alpha": a}}, [a * (E ** -2 - 1), a * (E ** -1 - 1), 0, 0.5, 1, 3],
            [a * E ** -2, a * E ** -1, a, 1, 1, 1])
    s, al = SELU_SCALE, SELU_ALPHA
    by_hand("selu", [s * al * (E ** -2 - 1), s * al * (E ** -1 - 1), 0, s * 0.5, s, 3 * s],
            [s * al * E ** -2, s * al * E ** -1, s * al, s, s, s])


def test_softplus_by_hand_and_its_linear_region():
    # beta 2, threshold 2: log(1 + e^(2x))/2 while 2x ≤ 2, x itself above (x = 3; x = 1 is at the
    # threshold, not above it); gradient sigmoid(2x), 1 in the linear region
    def sp(v):
        return math.log(1 + E ** (2 * v)) / 2

    def sig(v):
        return 1 / (1 + E ** (-2 * v))

    by_hand({"softplus": {"beta": 2, "threshold": 2}}, [sp(-2), sp(-1), math.log(2) / 2, sp(0.5), sp(1), 3],
            [sig(-2), sig(-1), 0.5, sig(0.5), sig(1), 1])
    # default threshold 20: a large input is passed through exactly, no overflow
    y, dx, _ = forward_and_grad([1, 2], "softplus", np.array([[[30.0, 1000.0]]]), np.ones((1, 1, 2)))
    assert y.tolist() == [[[30.0, 1000.0]]] and dx.tolist() == [[[1.0, 1.0]]]


def test_mish_by_hand():
    def mish(v):
        return v * math.tanh(math.log(1 + E ** v))

    def grad(v):  # d/dx x·tanh(sp(x)) = tanh(sp) + x·(1 − tanh(sp)²)·sigmoid(x)
        t = math.tanh(math.log(1 + E ** v))
        return t + v * (1 - t * t) / (1 + E ** -v)

    by_hand("mish", [mish(v) for v in X], [grad(v) for v in X])
    # mish(0) = 0 and its slope there is tanh(log 2) = 3/5
    assert grad(0.0) == pytest.approx(0.6)


def test_prelu_by_hand_shared_and_per_channel():
    x = np.array([[[-2.0, 3.0], [-1.0, 0.0]]])  # 2 channels, 2 positions
    dy = np.array([[[1.0, 1.0], [2.0, 5.0]]])
    # shared slope 0.25: y = 0.25·x below 0; dx = dy (x > 0) or 0.25·dy (x ≤ 0, also at 0)
    # da = Σ x·dy over x ≤ 0 = (−2)·1 + (−1)·2 + 0·5 = −4
    y, dx, dw = forward_and_grad([2, 2], "prelu", x, dy, {"prelu1.weight": np.array([0.25])})
    np.testing.assert_allclose(y, [[[-0.5, 3.0], [-0.25, 0.0]]])
    np.testing.assert_allclose(dx, [[[0.25, 1.0], [0.5, 1.25]]])
    np.testing.assert_allclose(dw["prelu1.weight"], [-4.0])
    # per channel a = [0.1, 0.5]: channel 0 da = −2, channel 1 da = (−1)·2 + 0 = −2
    y, dx, dw = forward_and_grad([2, 2], {"prelu": {"per_channel": True}}, x, dy,
                                 {"prelu1.weight": np.array([0.1, 0.5])})
    np.testing.assert_allclose(y, [[[-0.2, 3.0], [-0.5, 0.0]]])
    np.testing.assert_allclose(dx, [[[0.1, 1.0], [1.0, 2.5]]])
    np.testing.assert_allclose(dw["prelu1.weight"], [-2.0, -2.0])


def test_run_takes_pytorch_prelu_weights(tmp_path):
    spec = tmp_path / "p.yaml"
    spec.write_text("input: [3, 2]\nlayers:\n  - prelu: {per_channel: true}\n    name: act\n")
    x = np.array([[[-1.0, 2.0], [-4.0, 1.0], [-2.0, -3.0]]], dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "w.npz", **{"act.weight": np.array([0.5, 0.25, 2.0], dtype=np.float32)})
    args = ["run", str(spec), "--input", str(tmp_path / "x.npy"), "--save", str(tmp_path / "out.npz")]
    result = CliRunner().invoke(cli, args + ["--weights", str(tmp_path / "w.npz")])
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(tmp_path / "out.npz")["act"], [[[-0.5, 2.0], [-1.0, 1.0], [-4.0, -6.0]]])
    # a shared-slope array for a per-channel layer is refused, naming both shapes
    np.savez(tmp_path / "w1.npz", **{"act.weight": np.array([0.25], dtype=np.float32)})
    result = CliRunner().invoke(cli, args + ["--weights", str(tmp_path / "w1.npz")])
    assert result.exit_code == 2 and "act.weight" in result.stderr and "[1]" in result.stderr and "[3]" in result.stderr


def test_explain_substitutes_the_numbers():
    a = analyze_spec([16, 4, 4], [{"prelu": {"per_channel": True}}, "prelu", {"softplus": {"beta": 2}}])
    per_channel, shared, softplus = (layer.node for layer in a.layers)
    assert per_channel.kind.explain(per_channel)["params"] == ["C = 16 slopes a, one per channel"]
    assert shared.kind.explain(shared)["params"] == ["1 slope a, shared by every channel"]
    assert softplus.kind.explain(softplus)["flops"] == ["3 per element × elements 16·4·4 = 768"]


@pytest.mark.parametrize("name", ["hardtanh", "elu", "selu", "prelu", "mish", "softplus"])
def test_pointwise_field_and_probe_through_saturation(name):
    # far below zero every one of them is flat or nearly so (hardtanh exactly); the probe passes
    # gradients through, so the field of a conv output is still its 3 inputs
    a = analyze_spec([1, 9], [{"conv": {"out": 1, "kernel": 3}}, name])
    assert a.layers[1].rf.size == a.layers[0].rf.size == [3]
    assert lookup(name).probe is not None
    ex = Executor(a.graph, dtype=np.float64, probe=True)
    g = ex.gradient(np.full((1, 1, 9), -100.0), a.layers[1].name, (0, 0, 3))
    assert np.count_nonzero(g.input) == 3


# ---- PyTorch itself (optional): the same weights give the same forward and backward ----

def _torch_module(torch, name, params, channels):
    nn = torch.nn
    if name == "prelu":
        return nn.PReLU(num_parameters=channels if params.get("per_channel") else params.get("num_parameters", 1))
    return {"hardtanh": lambda: nn.Hardtanh(params.get("min", -1.0), params.get("max", 1.0)),
            "elu": lambda: nn.ELU(params.get("alpha", 1.0)), "selu": nn.SELU, "mish": nn.Mish,
            "softplus": lambda: nn.Softplus(params.get("beta", 1.0), params.get("threshold", 20.0))}[name]()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,params", [
    ("hardtanh", {}), ("hardtanh", {"min": -0.5, "max": 2.0}), ("elu", {}), ("elu", {"alpha": 0.3}),
    ("selu", {}), ("prelu", {}), ("prelu", {"per_channel": True}), ("prelu", {"num_parameters": 5}),
    ("mish", {}), ("softplus", {}),
    ("softplus", {"beta": 3.0, "threshold": 4.0}),
])
def test_against_torch(name, params, dtype):
    torch = pytest.importorskip("torch")
    shape = (2, 5, 4, 3)
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    module = _torch_module(torch, name, params, shape[1]).to(getattr(torch, dtype))
    a = analyze_spec(list(shape[1:]), [{name: params} if params else name])
    weights = {f"{a.layers[0].name}.{k}": v.detach().numpy().copy() for k, v in module.named_parameters()}
    if name == "prelu":  # not all equal to PyTorch's initial 0.25: a channel mix-up would show
        weights[f"{a.layers[0].name}.weight"] = rng.uniform(0.05, 0.5, module.weight.shape).astype(dtype)
        module.weight.data = torch.tensor(weights[f"{a.layers[0].name}.weight"])
    y, dx, dw = run(a, x, dy, weights or None, getattr(np, dtype))
    xt = torch.tensor(x, requires_grad=True)
    yt = module(xt)
    yt.backward(torch.tensor(dy))
    tol = dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y, yt.detach().numpy(), **tol)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **tol)
    for key, value in module.named_parameters():
        np.testing.assert_allclose(dw[f"{a.layers[0].name}.{key}"], value.grad.numpy(), rtol=1e-5, atol=1e-4)



# ---- ONNX (optional): export, onnxruntime as an independent engine, import back ----

ONNX_SPEC = """
input: [4, 6, 6]
layers:
  - {hardtanh: {min: -0.5, max: 1.5}, name: ht}
  - {conv: {out: 8, kernel: 3, padding: 1}, name: c}
  - {elu: {alpha: 0.7}, name: el}
  - {selu: , name: se}
  - {prelu: {per_channel: true}, name: pc}
  - {prelu: , name: ps}
  - {mish: , name: mi}
  - {softplus: , name: sp}
  - {hardsigmoid: , name: hsig}
  - {pixel_shuffle: {factor: 2}, name: shuf}
  - flatten
  - {prelu: {per_channel: true}, name: pf}
"""


@pytest.mark.parametrize("opset", [13, 17, 18])  # mish: Softplus-Tanh-Mul below 18, Mish from 18
def test_export_runs_in_onnxruntime_and_imports_back(opset, tmp_path):
    """Exported, onnxruntime's outputs equal the executor's on the model read back, which gives
    back the spec's layers and numbers (tests/test_onnx_specs.py's check of a bundled spec)."""
    pytest.importorskip("onnxruntime")
    from test_onnx_specs import check_bundled_spec

    spec = tmp_path / "acts.yaml"
    spec.write_text(ONNX_SPEC)
    check_bundled_spec(spec, tmp_path, opset)


@pytest.mark.parametrize("entry", [{"softplus": {"beta": 2}}, {"softplus": {"beta": 2, "threshold": 3}},
                                   {"pixel_shuffle": {"factor": 2}}])
def test_export_writes_what_the_plain_onnx_op_cannot_say(entry, tmp_path):
    """softplus with beta/threshold (Mul β → Softplus → Div β, Greater/Where) and a 1-D pixel_shuffle
    (Reshape → Transpose → Reshape) as PyTorch's exporters write them: run in onnxruntime and read
    back as the same layer (tests/test_onnx_contract7.py checks their parameters too)."""
    pytest.importorskip("onnxruntime")
    from test_onnx_specs import check_bundled_spec

    spec = tmp_path / "s.yaml"
    spec.write_text(f"input: [8, 6]\nlayers:\n  - {{conv: {{out: 8, kernel: 1}}}}\n  - {entry}\n".replace("'", ""))
    check_bundled_spec(spec, tmp_path)
