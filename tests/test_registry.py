"""Registry completeness: every registered layer type carries its full set of independent checks.

For each type there must be
  1. a hand-worked case in tests/test_layers.py (CASES),
  2. a naive direct-definition reference in tests/naive.py (LAYERS),
  3. a small 1-D instance in SAMPLES below, on which the executor's forward is compared with that
     reference and its backward with central finite differences (input and learnable weights),
  4. a receptive-field source in the brute-force reference of tests/test_rf.py (SOURCES), compared
     here with netcalc's field of every output of the sample.
A new type without them fails test_every_type_has_its_checks with a message saying what is missing.
"""

from __future__ import annotations

import numpy as np
import pytest

import naive
from helpers import analyze_spec
from netcalc.executor import Executor
from netcalc.layers import load_all, lookup
from test_layers import CASES
from test_rf import SOURCES

FORWARD_TOL = dict(rtol=1e-9, atol=1e-11)
GRAD_TOL = dict(rtol=1e-5, atol=1e-6)
RESERVED = {"name", "from", "repeat", "expect", "first", "if"}
BOTH_INPUTS = ["input", "input"]

# One small 1-D instance of every layer type: (input shape, spec entry). Small, so that finite
# differences stay cheap; parameters chosen to exercise stride, padding, dilation where the type
# has them.
SAMPLES = {
    "conv": ([2, 7], {"conv": {"out": 4, "kernel": 3, "stride": 2, "padding": 1, "groups": 2}}),
    "depthwise": ([2, 7], {"depthwise": {"kernel": 2, "dilation": 2, "multiplier": 2}}),
    "conv_transpose": ([2, 3], {"conv_transpose": {"out": 2, "kernel": 3, "stride": 2, "padding": 1,
                                                   "output_padding": 1}}),
    "maxpool": ([2, 7], {"maxpool": {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True}}),
    "avgpool": ([2, 7], {"avgpool": {"kernel": 3, "stride": 2, "padding": 1, "count_include_pad": False}}),
    "adaptive_avgpool": ([2, 7], {"adaptive_avgpool": {"out": 3}}),
    "adaptive_maxpool": ([2, 7], {"adaptive_maxpool": {"out": 3}}),
    "global_avgpool": ([2, 5], "global_avgpool"),
    "global_maxpool": ([2, 5], "global_maxpool"),
    "spp": ([2, 7], {"spp": {"levels": [1, 2], "mode": "max"}}),
    "upsample": ([2, 4], {"upsample": {"scale": 2, "mode": "linear"}}),
    "linear": ([5], {"linear": {"out": 3}}),
    "flatten": ([2, 3], "flatten"),
    "batchnorm": ([3, 4], "batchnorm"),
    "lrn": ([4, 3], {"lrn": {"size": 3, "alpha": 0.5}}),
    "add": ([2, 4], {"add": None, "from": BOTH_INPUTS}),
    "mul": ([2, 4], {"mul": None, "from": BOTH_INPUTS}),
    "concat": ([2, 4], {"concat": None, "from": BOTH_INPUTS}),
    "pixel_shuffle": ([6, 4], {"pixel_shuffle": {"factor": 3}}),
    **{name: ([3, 4], name) for name in ("relu", "relu6", "leaky_relu", "sigmoid", "tanh", "silu", "gelu",
                                         "hardswish", "hardsigmoid", "softmax", "identity", "dropout")},
}

# contract §7 activations (issue 9): parameters away from their defaults; the random input is
# N(0, 1) so both sides of each kink are taken
SAMPLES.update({
    "hardtanh": ([3, 4], {"hardtanh": {"min": -0.5, "max": 0.8}}),
    "elu": ([3, 4], {"elu": {"alpha": 0.7}}),
    "selu": ([3, 4], "selu"),
    "prelu": ([3, 4], {"prelu": {"per_channel": True}}),
    "mish": ([3, 4], "mish"),
    "softplus": ([3, 4], {"softplus": {"beta": 2.0, "threshold": 1.5}}),
})
# issue 9, the structural types: a 3-group shuffle, r = 3 unshuffle, a reflect pad as wide as PyTorch
# allows on one side (3 < 4), and a slice with a negative end
SAMPLES.update({
    "channel_shuffle": ([6, 3], {"channel_shuffle": {"groups": 3}}),
    "pixel_unshuffle": ([2, 6], {"pixel_unshuffle": {"factor": 3}}),
    "pad": ([2, 4], {"pad": {"padding": [[3, 2]], "mode": "reflect"}}),
    "slice": ([5, 3], {"slice": {"start": 1, "end": -1}}),
})
# contract §7, normalisations and residual-branch helpers (issue 9): with their affine maps on, so
# that the weight and bias gradients are checked too
SAMPLES.update({
    "layernorm": ([3, 4], "layernorm"),
    "groupnorm": ([4, 3], {"groupnorm": {"groups": 2}}),
    "instancenorm": ([3, 4], {"instancenorm": {"affine": True}}),
    "scale": ([3, 4], {"scale": {"bias": True}}),
    "drop_path": ([3, 4], {"drop_path": {"p": 0.2}}),
})


def type_key(entry) -> str:
    return entry if isinstance(entry, str) else next(k for k in entry if k not in RESERVED)


def type_of(entry) -> str:
    return lookup(type_key(entry)).name


def checked_types() -> list[str]:
    """Every registered type except built-in blocks (they expand into checked types)."""
    from netcalc.layers.composite import BuiltinBlock

    return sorted(name for name, kind in load_all().items() if not isinstance(kind, BuiltinBlock))


def test_every_type_has_its_checks():
    hand_worked = {type_of(case[2]) for case in CASES}
    missing = []
    for name in checked_types():
        if name not in hand_worked:
            missing.append(f"{name}: no hand-worked case in tests/test_layers.py CASES")
        if name not in naive.LAYERS:
            missing.append(f"{name}: no naive reference in tests/naive.py LAYERS")
        if name not in SAMPLES:
            missing.append(f"{name}: no small instance in tests/test_registry.py SAMPLES (forward vs naive, "
                           f"finite-difference gradients, brute-force receptive field)")
        if name not in SOURCES:
            missing.append(f"{name}: no receptive-field source in tests/test_rf.py SOURCES")
    assert not missing, "layer types without their checks:\n  " + "\n  ".join(missing)


def _sample(name):
    if name not in SAMPLES:
        pytest.fail(f"{name}: no small instance in SAMPLES (see test_every_type_has_its_checks)")
    shape, entry = SAMPLES[name]
    analysis = analyze_spec(shape, [entry])
    return analysis, analysis.layers[-1].node


@pytest.mark.parametrize("name", checked_types())
def test_forward_matches_naive_and_backward_matches_finite_differences(name):
    analysis, node = _sample(name)
    ex = Executor(analysis.graph, dtype=np.float64, seed=3)
    x = ex.random_input(2, seed=4)
    fwd = ex.forward(x, keep=True, _caches=True)
    y = fwd.outputs[node.name]
    inputs = [x for _ in node.inputs]
    np.testing.assert_allclose(y, naive.LAYERS[name](node, inputs, ex.node_weights(node)), **FORWARD_TOL)
    dy = np.random.default_rng(5).standard_normal(y.shape)
    grads = ex.backward(x, fwd, node.name, dy)

    def loss(_):
        return float(np.sum(dy * ex.forward(x, keep=True).outputs[node.name]))

    np.testing.assert_allclose(grads.input, naive.numerical_grad(loss, x), err_msg="input", **GRAD_TOL)
    for key in ex.weights:
        if key.rsplit(".", 1)[1] in ("weight", "bias"):  # learnable (batchnorm's running stats are not)
            np.testing.assert_allclose(grads.weights[key], naive.numerical_grad(loss, ex.weights[key]),
                                       err_msg=key, **GRAD_TOL)


@pytest.mark.parametrize("name", checked_types())
def test_receptive_field_matches_brute_force(name):
    analysis, node = _sample(name)
    layer = analysis.layers[-1]
    source = SOURCES.get(name, "missing")
    assert source != "missing", f"{name}: no receptive-field source in tests/test_rf.py SOURCES"
    if source is None:
        assert layer.rf is None
        return
    _, entry = SAMPLES[name]
    params = {} if isinstance(entry, str) else entry[type_key(entry)] or {}
    (n_in,), (n_out,) = node.spatial_in, node.spatial_out
    for o in range(n_out):
        taps = source(params, o, n_in, n_out)
        expected = (min(taps), max(taps)) if taps else None
        assert layer.rf.fields[0].bounds(o) == expected, f"{name}: output {o}"
