"""Property tests for the kernels that live with their layer types (netcalc/layers/*): each
against the naive references in tests/naive.py and central finite differences, exactly as
tests/test_kernels.py does for the shared mathematics in netcalc/kernels.py (moved from there
when the kernels moved to their types)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import naive
from netcalc.errors import SpecError
from netcalc.layers import REGISTRY, load_all, lookup
from netcalc.layers.dense import linear_backward, linear_forward
from netcalc.layers.pointwise import Activation, batchnorm_backward, batchnorm_forward, lrn_backward, lrn_forward
from netcalc.layers.resample import upsample_backward, upsample_forward
from test_kernels import FAST, FORWARD_TOL, MAX_SPATIAL, _check_grad, _pool_arrays, _rng

ACTIVATIONS = sorted(name for name, kind in load_all().items() if isinstance(kind, Activation))


# ---------------------------------------------------------------------------
# Upsampling
# ---------------------------------------------------------------------------

@st.composite
def upsample_cases(draw):
    nd = draw(st.integers(1, 3))
    spatial = tuple(draw(st.integers(1, MAX_SPATIAL[nd])) for _ in range(nd))
    use_scale = draw(st.booleans())
    if use_scale:
        scale = tuple(draw(st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0])) for _ in range(nd))
        out_size = tuple(max(1, math.floor(n * s)) for n, s in zip(spatial, scale))
    else:
        scale = None
        out_size = tuple(draw(st.integers(1, 2 * n + 2)) for n in spatial)
    return dict(n_batch=draw(st.integers(1, 2)), channels=draw(st.integers(1, 2)),
                spatial=spatial, out_size=out_size, scale=scale,
                mode=draw(st.sampled_from(["nearest", "linear"])),
                seed=draw(st.integers(0, 2**32 - 1)))


@FAST
@given(upsample_cases())
def test_upsample_matches_naive_and_finite_differences(case):
    x, dy = _pool_arrays(case)
    out_size, mode, scale = case["out_size"], case["mode"], case["scale"]
    y = upsample_forward(x, out_size, mode, scale)
    np.testing.assert_allclose(y, naive.upsample(x, out_size, mode, scale), **FORWARD_TOL)
    dx = upsample_backward(dy, x.shape, out_size, mode, scale)
    _check_grad({"x": x}, {"x": dx}, lambda: upsample_forward(x, out_size, mode, scale), dy)


def test_upsample_known_values():
    x = np.array([[[0.0, 1.0, 2.0]]])
    # PyTorch bilinear (align_corners=False), 3 -> 6
    np.testing.assert_allclose(upsample_forward(x, (6,), "linear")[0, 0],
                               [0.0, 0.25, 0.75, 1.25, 1.75, 2.0])
    np.testing.assert_array_equal(upsample_forward(x, (6,), "nearest")[0, 0],
                                  [0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(upsample_forward(x, (4,), "nearest")[0, 0],
                                  [0, 0, 1, 2])


# ---------------------------------------------------------------------------
# Linear, batch norm, LRN
# ---------------------------------------------------------------------------

@FAST
@given(st.integers(1, 3), st.integers(1, 5), st.integers(1, 4), st.booleans(),
       st.integers(0, 2**32 - 1))
def test_linear(n_batch, n_in, n_out, with_bias, seed):
    rng = _rng(seed)
    x, w = rng.standard_normal((n_batch, n_in)), rng.standard_normal((n_out, n_in))
    b = rng.standard_normal(n_out) if with_bias else None
    np.testing.assert_allclose(linear_forward(x, w, b), naive.linear(x, w, b), **FORWARD_TOL)
    dy = rng.standard_normal((n_batch, n_out))
    dx, dw, db = linear_backward(dy, x, w, with_bias)
    inputs, grads = {"x": x, "w": w}, {"x": dx, "w": dw}
    if with_bias:
        inputs["b"], grads["b"] = b, db
    else:
        assert db is None
    _check_grad(inputs, grads, lambda: linear_forward(x, w, b), dy)


@FAST
@given(st.integers(1, 3), st.integers(0, 2), st.booleans(), st.integers(0, 2**32 - 1))
def test_batchnorm(channels, extra_dims, affine, seed):
    rng = _rng(seed)
    x = rng.standard_normal((2, channels) + (3,) * extra_dims)
    mean, var = rng.standard_normal(channels), rng.uniform(0.2, 2.0, channels)
    weight = rng.standard_normal(channels) if affine else None
    bias = rng.standard_normal(channels) if affine else None
    eps = 1e-5
    y = batchnorm_forward(x, weight, bias, mean, var, eps)
    np.testing.assert_allclose(y, naive.batchnorm(x, weight, bias, mean, var, eps), **FORWARD_TOL)
    dy = rng.standard_normal(x.shape)
    dx, dweight, dbias = batchnorm_backward(dy, x, weight, mean, var, eps)
    inputs, grads = {"x": x}, {"x": dx}
    if affine:
        inputs.update(weight=weight, bias=bias)
        grads.update(weight=dweight, bias=dbias)
    _check_grad(inputs, grads, lambda: batchnorm_forward(x, weight, bias, mean, var, eps), dy)


@FAST
@given(st.integers(1, 7), st.integers(1, 6), st.sampled_from([1e-4, 0.3, 2.0]),
       st.sampled_from([0.5, 0.75]), st.sampled_from([1.0, 2.0]), st.integers(0, 2**32 - 1))
def test_lrn(channels, size, alpha, beta, k, seed):
    rng = _rng(seed)
    x = rng.standard_normal((2, channels, 3, 2))
    y = lrn_forward(x, size, alpha, beta, k)
    np.testing.assert_allclose(y, naive.lrn(x, size, alpha, beta, k), **FORWARD_TOL)
    dy = rng.standard_normal(x.shape)
    dx = lrn_backward(dy, x, size, alpha, beta, k)
    _check_grad({"x": x}, {"x": dx}, lambda: lrn_forward(x, size, alpha, beta, k), dy)


# ---------------------------------------------------------------------------
# Activations and merges
# ---------------------------------------------------------------------------

@FAST
@given(st.sampled_from(ACTIVATIONS), st.integers(0, 2**32 - 1))
def test_activations(name, seed):
    kind = REGISTRY[name]
    rng = _rng(seed)
    x = rng.standard_normal((2, 4, 3)) * 4  # reaches relu6's 6 and hardswish's +-3
    y = kind.fn(x)
    np.testing.assert_allclose(y, naive.activation(name, x), **FORWARD_TOL)
    dy = rng.standard_normal(x.shape)
    for y_arg in (y, None):
        dx = kind.grad(x, y_arg, dy)
        _check_grad({"x": x}, {"x": dx}, lambda: kind.fn(x), dy)


def test_unknown_activation_is_rejected():
    with pytest.raises(SpecError):
        lookup("swishy")


SHAPE_SETS = [
    [(2, 3, 4, 4), (2, 3, 1, 1)],          # squeeze-excitation
    [(2, 3, 4), (2, 3, 4), (2, 3, 4)],
    [(1, 3, 1, 2), (2, 1, 5, 1)],          # both sides broadcast
    [(2, 3, 4), (4,)],                     # fewer dims
]


@pytest.mark.parametrize("shapes", SHAPE_SETS)
@pytest.mark.parametrize("op", ["add", "mul"])
def test_elementwise_merges(op, shapes):
    rng = _rng(11)
    xs = [rng.standard_normal(s) for s in shapes]
    forward, backward = REGISTRY[op].combine, REGISTRY[op].split
    expected = xs[0]
    for x in xs[1:]:
        expected = expected + x if op == "add" else expected * x
    y = forward(xs)
    np.testing.assert_allclose(y, expected, **FORWARD_TOL)
    dy = rng.standard_normal(y.shape)
    grads = backward(dy, xs)
    _check_grad({str(i): x for i, x in enumerate(xs)},
                {str(i): g for i, g in enumerate(grads)}, lambda: forward(xs), dy)


def test_concat_and_flatten():
    rng = _rng(5)
    xs = [rng.standard_normal((2, c, 3, 2)) for c in (1, 4, 2)]
    concat, flatten = REGISTRY["concat"], REGISTRY["flatten"]
    y = concat.combine(xs)
    np.testing.assert_array_equal(y, np.concatenate(xs, axis=1))
    dy = rng.standard_normal(y.shape)
    _check_grad({str(i): x for i, x in enumerate(xs)},
                {str(i): g for i, g in enumerate(concat.split(dy, xs))},
                lambda: concat.combine(xs), dy)
    x = rng.standard_normal((2, 3, 4, 5))
    f = flatten.forward(None, [x], {}, None)[0]
    assert f.shape == (2, 60)
    np.testing.assert_array_equal(flatten.backward(None, [x], f, f, {}, None, None)[0][0], x)


# ---------------------------------------------------------------------------
# float32 in, float32 out
# ---------------------------------------------------------------------------

def test_float32_is_preserved_everywhere():
    rng = _rng(2)
    f32 = np.float32
    x = rng.standard_normal((2, 4, 6, 5)).astype(f32)
    for mode in ("nearest", "linear"):
        yu = upsample_forward(x, (12, 10), mode)
        assert yu.dtype == f32
        assert upsample_backward(yu, x.shape, (12, 10), mode).dtype == f32
    for name in ACTIVATIONS:
        ya = REGISTRY[name].fn(x)
        assert ya.dtype == f32, name
        assert REGISTRY[name].grad(x, ya, ya).dtype == f32, name
    yl = lrn_forward(x, 3)
    assert yl.dtype == f32 and lrn_backward(yl, x, 3).dtype == f32
    ch = np.ones(4, dtype=f32)
    yb = batchnorm_forward(x, ch, ch, ch * 0, ch, 1e-5)
    assert yb.dtype == f32
    assert all(g.dtype == f32 for g in batchnorm_backward(yb, x, ch, ch * 0, ch, 1e-5))
    xf = x.reshape(2, -1)
    wl = rng.standard_normal((3, xf.shape[1])).astype(f32)
    yl = linear_forward(xf, wl, np.zeros(3, f32))
    assert yl.dtype == f32
    assert all(g.dtype == f32 for g in linear_backward(yl, xf, wl, True))
