"""Property tests for netcalc.kernels against naive references and finite differences.

Forwards are compared with the loop-based definitions in tests/naive.py
(float64, 1e-9 relative); backwards with central finite differences of the
projection loss sum(dy * y).  Cases are tiny so the file runs in seconds.
"""

from __future__ import annotations

import importlib.util
import math
import pathlib
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

TESTS_DIR = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS_DIR))
import naive  # noqa: E402

try:
    from netcalc import kernels
except Exception:  # the package may be half-written; the kernels file stands alone
    _spec = importlib.util.spec_from_file_location(
        "netcalc_kernels_standalone", TESTS_DIR.parent / "netcalc" / "kernels.py")
    kernels = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(kernels)

FORWARD_TOL = dict(rtol=1e-9, atol=1e-11)
GRAD_TOL = dict(rtol=1e-5, atol=1e-6)
FAST = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
SLOW = settings(max_examples=30, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

MAX_SPATIAL = {1: 7, 2: 5, 3: 3}


def _rng(seed):
    return np.random.default_rng(seed)


def _check_grad(loss_inputs, analytic, forward, dy):
    """Compare analytic grads with finite differences of sum(dy * forward())."""
    for name, array in loss_inputs.items():
        numeric = naive.numerical_grad(lambda _: float(np.sum(dy * forward())), array)
        np.testing.assert_allclose(analytic[name], numeric, err_msg=name, **GRAD_TOL)


# ---------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------

@st.composite
def conv_cases(draw, transposed=False, allow_groups=True):
    nd = draw(st.integers(1, 3))
    small = nd == 3
    kernel = tuple(draw(st.integers(1, 2 if small else 3)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 2 if small else 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    pads = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(nd))
    groups = draw(st.integers(1, 3)) if allow_groups else 1
    c_in = groups * draw(st.integers(1, 2))
    c_out = groups * draw(st.integers(1, 2))
    spatial, out_size = [], []
    for k, s, d, (pb, pa) in zip(kernel, stride, dilation, pads):
        span = d * (k - 1) + 1
        if transposed:
            n = draw(st.integers(1, MAX_SPATIAL[nd]))
            output_padding = draw(st.integers(0, max(s, d) - 1))
            out = (n - 1) * s - pb - pa + span + output_padding
            assume(out >= 1)
        else:
            n = draw(st.integers(max(1, span - pb - pa), max(span - pb - pa, MAX_SPATIAL[nd])))
            out = (n + pb + pa - span) // s + 1
            # a caller may ask for fewer outputs than fit: trailing rows are ignored
            out -= draw(st.integers(0, 1)) if out > 1 else 0
        spatial.append(n)
        out_size.append(out)
    return dict(n_batch=draw(st.integers(1, 2)), c_in=c_in, c_out=c_out, spatial=tuple(spatial),
                kernel=kernel, stride=stride, dilation=dilation, pads=pads, groups=groups,
                out_size=tuple(out_size), seed=draw(st.integers(0, 2**32 - 1)))


def _conv_arrays(case, transposed=False, dtype=np.float64):
    rng = _rng(case["seed"])
    x = rng.standard_normal((case["n_batch"], case["c_in"]) + case["spatial"]).astype(dtype)
    if transposed:
        w_shape = (case["c_in"], case["c_out"] // case["groups"]) + case["kernel"]
    else:
        w_shape = (case["c_out"], case["c_in"] // case["groups"]) + case["kernel"]
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(case["c_out"]).astype(dtype)
    dy = rng.standard_normal((case["n_batch"], case["c_out"]) + case["out_size"]).astype(dtype)
    return x, w, b, dy


def _geometry(case):
    return case["stride"], case["dilation"], case["pads"], case["groups"], case["out_size"]


@st.composite
def pool_cases(draw, with_dilation=True):
    """PyTorch-valid pooling geometry (pad <= k//2), floor or ceil mode."""
    nd = draw(st.integers(1, 3))
    ceil_mode = draw(st.booleans())
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) if with_dilation else 1 for _ in range(nd))
    pads = tuple((draw(st.integers(0, k // 2)), draw(st.integers(0, k // 2))) for k in kernel)
    spatial, out_size = [], []
    for k, s, d, (pb, pa) in zip(kernel, stride, dilation, pads):
        span = d * (k - 1) + 1
        n = draw(st.integers(max(1, span - pb - pa), max(span - pb - pa, MAX_SPATIAL[nd] + 1)))
        room = n + pb + pa - span
        if ceil_mode:
            out = -(-room // s) + 1
            if (out - 1) * s >= n + pb:  # PyTorch: last window must start inside
                out -= 1
        else:
            out = room // s + 1
        spatial.append(n)
        out_size.append(out)
    return dict(n_batch=draw(st.integers(1, 2)), channels=draw(st.integers(1, 3)),
                spatial=tuple(spatial), kernel=kernel, stride=stride, dilation=dilation,
                pads=pads, out_size=tuple(out_size), ceil_mode=ceil_mode,
                seed=draw(st.integers(0, 2**32 - 1)))


def _pool_arrays(case, dtype=np.float64):
    rng = _rng(case["seed"])
    x = rng.standard_normal((case["n_batch"], case["channels"]) + case["spatial"]).astype(dtype)
    dy = rng.standard_normal((case["n_batch"], case["channels"]) + case["out_size"]).astype(dtype)
    return x, dy


# ---------------------------------------------------------------------------
# im2col / col2im
# ---------------------------------------------------------------------------

@FAST
@given(conv_cases(allow_groups=False), st.sampled_from([0.0, -np.inf]))
def test_im2col_matches_naive(case, pad_value):
    x, *_ = _conv_arrays(case)
    geometry = (case["kernel"], case["stride"], case["dilation"], case["pads"], case["out_size"])
    got = kernels.im2col(x, *geometry, pad_value=pad_value)
    np.testing.assert_array_equal(got, naive.im2col(x, *geometry, pad_value=pad_value))


@FAST
@given(conv_cases(allow_groups=False))
def test_im2col_col2im_are_adjoint(case):
    x, *_ = _conv_arrays(case)
    geometry = (case["kernel"], case["stride"], case["dilation"], case["pads"], case["out_size"])
    cols = kernels.im2col(x, *geometry)
    c = _rng(case["seed"] + 1).standard_normal(cols.shape)
    back = kernels.col2im(c, x.shape, *geometry)
    assert back.shape == x.shape
    lhs, rhs = np.vdot(cols, c), np.vdot(x, back)
    assert math.isclose(lhs, rhs, rel_tol=1e-10, abs_tol=1e-10)


# ---------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------

@FAST
@given(conv_cases(), st.booleans())
def test_conv_forward_matches_naive(case, with_bias):
    x, w, b, _ = _conv_arrays(case)
    b = b if with_bias else None
    stride, dilation, pads, groups, out_size = _geometry(case)
    got = kernels.conv_forward(x, w, b, stride, dilation, pads, groups, out_size)
    assert got.shape == (case["n_batch"], case["c_out"]) + out_size
    np.testing.assert_allclose(got, naive.conv(x, w, b, *_geometry(case)), **FORWARD_TOL)


@SLOW
@given(conv_cases())
def test_conv_backward_matches_finite_differences(case):
    x, w, b, dy = _conv_arrays(case)
    geometry = _geometry(case)
    dx, dw, db = kernels.conv_backward(dy, x, w, *geometry, has_bias=True)
    _check_grad({"x": x, "w": w, "b": b}, {"x": dx, "w": dw, "b": db},
                lambda: kernels.conv_forward(x, w, b, *geometry), dy)


@FAST
@given(conv_cases(transposed=True), st.booleans())
def test_conv_transpose_forward_matches_naive(case, with_bias):
    x, w, b, _ = _conv_arrays(case, transposed=True)
    b = b if with_bias else None
    got = kernels.conv_transpose_forward(x, w, b, *_geometry(case))
    assert got.shape == (case["n_batch"], case["c_out"]) + case["out_size"]
    np.testing.assert_allclose(got, naive.conv_transpose(x, w, b, *_geometry(case)), **FORWARD_TOL)


@SLOW
@given(conv_cases(transposed=True))
def test_conv_transpose_backward_matches_finite_differences(case):
    x, w, b, dy = _conv_arrays(case, transposed=True)
    geometry = _geometry(case)
    dx, dw, db = kernels.conv_transpose_backward(dy, x, w, *geometry, has_bias=True)
    _check_grad({"x": x, "w": w, "b": b}, {"x": dx, "w": dw, "b": db},
                lambda: kernels.conv_transpose_forward(x, w, b, *geometry), dy)


@pytest.mark.parametrize("workspace", [1, 600, 5000])
def test_conv_tiling_matches_untiled(workspace):
    """Batch and row tiling under a tiny workspace gives the same results."""
    rng = _rng(7)
    x = rng.standard_normal((3, 4, 9, 7))
    w = rng.standard_normal((6, 2, 3, 2))
    b = rng.standard_normal(6)
    geometry = ((2, 1), (1, 2), ((1, 2), (0, 1)), 2, (5, 6))
    dy = rng.standard_normal((3, 6, 5, 6))
    y_ref = kernels.conv_forward(x, w, b, *geometry)
    y = kernels.conv_forward(x, w, b, *geometry, max_workspace_bytes=workspace)
    np.testing.assert_allclose(y, y_ref, **FORWARD_TOL)
    ref = kernels.conv_backward(dy, x, w, *geometry, has_bias=True)
    got = kernels.conv_backward(dy, x, w, *geometry, has_bias=True, max_workspace_bytes=workspace)
    for a, r in zip(got, ref):
        np.testing.assert_allclose(a, r, **FORWARD_TOL)
    # transposed conv (its forward is the tiled scatter, its dx the tiled im2col)
    wt = rng.standard_normal((6, 2, 3, 2))
    t_geometry = ((2, 1), (1, 2), ((1, 1), (0, 0)), 2, (10, 8))
    xt = rng.standard_normal((3, 6, 5, 6))
    dyt = rng.standard_normal((3, 4, 10, 8))
    np.testing.assert_allclose(
        kernels.conv_transpose_forward(xt, wt, None, *t_geometry, max_workspace_bytes=workspace),
        naive.conv_transpose(xt, wt, None, *t_geometry), **FORWARD_TOL)
    ref = kernels.conv_transpose_backward(dyt, xt, wt, *t_geometry, has_bias=False)
    got = kernels.conv_transpose_backward(dyt, xt, wt, *t_geometry, has_bias=False,
                                          max_workspace_bytes=workspace)
    for a, r in zip(got[:2], ref[:2]):
        np.testing.assert_allclose(a, r, **FORWARD_TOL)


def test_pointwise_conv_fast_path():
    rng = _rng(3)
    x = rng.standard_normal((2, 6, 4, 3))
    w = rng.standard_normal((4, 3, 1, 1))
    b = rng.standard_normal(4)
    geometry = ((1, 1), (1, 1), ((0, 0), (0, 0)), 2, (4, 3))
    np.testing.assert_allclose(kernels.conv_forward(x, w, b, *geometry),
                               naive.conv(x, w, b, *geometry), **FORWARD_TOL)
    dy = rng.standard_normal((2, 4, 4, 3))
    dx, dw, db = kernels.conv_backward(dy, x, w, *geometry, has_bias=True)
    _check_grad({"x": x, "w": w}, {"x": dx, "w": dw},
                lambda: kernels.conv_forward(x, w, b, *geometry), dy)


# ---------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------

def _max_pool_geometry(case):
    return case["kernel"], case["stride"], case["dilation"], case["pads"], case["out_size"]


@FAST
@given(pool_cases())
def test_max_pool_forward_and_routing_match_naive(case):
    x, dy = _pool_arrays(case)
    y, argmax = kernels.max_pool_forward(x, *_max_pool_geometry(case))
    y_ref, argmax_ref = naive.max_pool(x, *_max_pool_geometry(case))
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(argmax, argmax_ref)
    np.testing.assert_allclose(kernels.max_pool_backward(dy, argmax, x.shape),
                               naive.max_pool_backward(dy, argmax_ref, x.shape), **FORWARD_TOL)


def test_max_pool_ties_route_to_first_maximum():
    x = np.array([[[[1.0, 3.0, 3.0], [3.0, 0.0, 3.0], [2.0, 3.0, 1.0]]]])
    y, argmax = kernels.max_pool_forward(x, (2, 2), (1, 1), (1, 1), ((0, 0), (0, 0)), (2, 2))
    np.testing.assert_array_equal(argmax[0, 0], [[1, 1], [3, 5]])
    dx = kernels.max_pool_backward(np.ones_like(y), argmax, x.shape)
    np.testing.assert_array_equal(dx[0, 0], [[0, 2, 0], [1, 0, 1], [0, 0, 0]])


def test_max_pool_window_wholly_in_padding():
    # n=1, k=2, dilation 2, pad 1: the only window reads positions -1 and 1.
    x = np.array([[[5.0]]])
    y, argmax = kernels.max_pool_forward(x, (2,), (1,), (2,), ((1, 1),), (1,))
    assert y[0, 0, 0] == -np.inf and argmax[0, 0, 0] == -1
    np.testing.assert_array_equal(kernels.max_pool_backward(np.ones_like(y), argmax, x.shape), 0)


@SLOW
@given(pool_cases())
def test_max_pool_backward_matches_finite_differences(case):
    x, dy = _pool_arrays(case)
    geometry = _max_pool_geometry(case)
    y, argmax = kernels.max_pool_forward(x, *geometry)
    assume(np.isfinite(y).all())  # all-padding windows (see below) have no derivative
    dx = kernels.max_pool_backward(dy, argmax, x.shape)
    _check_grad({"x": x}, {"x": dx}, lambda: kernels.max_pool_forward(x, *geometry)[0], dy)


@FAST
@given(pool_cases(with_dilation=False), st.booleans())
def test_avg_pool_forward_matches_naive(case, count_include_pad):
    x, _ = _pool_arrays(case)
    geometry = (case["kernel"], case["stride"], case["pads"], case["out_size"])
    np.testing.assert_allclose(kernels.avg_pool_forward(x, *geometry, count_include_pad),
                               naive.avg_pool(x, *geometry, count_include_pad), **FORWARD_TOL)


@SLOW
@given(pool_cases(with_dilation=False), st.booleans())
def test_avg_pool_backward_matches_finite_differences(case, count_include_pad):
    x, dy = _pool_arrays(case)
    geometry = (case["kernel"], case["stride"], case["pads"], case["out_size"])
    dx = kernels.avg_pool_backward(dy, x.shape, *geometry, count_include_pad)
    _check_grad({"x": x}, {"x": dx},
                lambda: kernels.avg_pool_forward(x, *geometry, count_include_pad), dy)


def test_avg_pool_ceil_mode_divisor_like_pytorch():
    # n=5, k=2, s=2, pad 0, ceil_mode -> 3 outputs; last window [4, 6) clipped to n+pad=5.
    x = np.arange(5.0).reshape(1, 1, 5)
    y = kernels.avg_pool_forward(x, (2,), (2,), ((0, 0),), (3,))
    np.testing.assert_allclose(y[0, 0], [0.5, 2.5, 4.0])
    # n=4, k=3, s=2, pad 1, ceil -> 3 outputs; last window [3, 6): size min(6, 5) - 3 = 2.
    x = np.arange(4.0).reshape(1, 1, 4)
    y = kernels.avg_pool_forward(x, (3,), (2,), ((1, 1),), (3,), count_include_pad=True)
    np.testing.assert_allclose(y[0, 0], [1 / 3, 6 / 3, 3 / 2])
    y = kernels.avg_pool_forward(x, (3,), (2,), ((1, 1),), (3,), count_include_pad=False)
    np.testing.assert_allclose(y[0, 0], [1 / 2, 6 / 3, 3 / 1])


def test_adaptive_bins_rule():
    assert kernels.adaptive_bins(5, 3) == [(0, 2), (1, 4), (3, 5)]
    assert kernels.adaptive_bins(3, 5) == [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3)]
    assert kernels.adaptive_bins(7, 1) == [(0, 7)]


@st.composite
def adaptive_cases(draw):
    nd = draw(st.integers(1, 3))
    spatial = tuple(draw(st.integers(1, MAX_SPATIAL[nd] + 1)) for _ in range(nd))
    out_size = tuple(draw(st.integers(1, n + 2)) for n in spatial)
    return dict(n_batch=draw(st.integers(1, 2)), channels=draw(st.integers(1, 3)),
                spatial=spatial, out_size=out_size, mode=draw(st.sampled_from(["max", "avg"])),
                seed=draw(st.integers(0, 2**32 - 1)))


@FAST
@given(adaptive_cases())
def test_adaptive_pool_matches_naive_and_finite_differences(case):
    x, dy = _pool_arrays(case)
    out_size, mode = case["out_size"], case["mode"]
    y, cache = kernels.adaptive_pool_forward(x, out_size, mode)
    np.testing.assert_allclose(y, naive.adaptive_pool(x, out_size, mode), **FORWARD_TOL)
    dx = kernels.adaptive_pool_backward(dy, x, out_size, mode, cache)
    _check_grad({"x": x}, {"x": dx}, lambda: kernels.adaptive_pool_forward(x, out_size, mode)[0], dy)


@SLOW
@given(st.integers(1, 3), st.sampled_from(["max", "avg"]),
       st.lists(st.integers(1, 3), min_size=1, max_size=3), st.integers(0, 2**32 - 1))
def test_spp_matches_naive_and_finite_differences(nd, mode, levels, seed):
    rng = _rng(seed)
    x = rng.standard_normal((2, 2) + tuple(rng.integers(2, MAX_SPATIAL[nd] + 1, size=nd)))
    y, cache = kernels.spp_forward(x, levels, mode)
    assert y.shape == (2, 2 * sum(lv ** nd for lv in levels))
    np.testing.assert_allclose(y, naive.spp(x, levels, mode), **FORWARD_TOL)
    dy = rng.standard_normal(y.shape)
    dx = kernels.spp_backward(dy, x, levels, mode, cache)
    _check_grad({"x": x}, {"x": dx}, lambda: kernels.spp_forward(x, levels, mode)[0], dy)


def test_global_pooling_is_adaptive_to_ones():
    x = _rng(1).standard_normal((2, 3, 4, 5))
    y, _ = kernels.adaptive_pool_forward(x, (1, 1), "avg")
    np.testing.assert_allclose(y, x.mean(axis=(2, 3), keepdims=True), **FORWARD_TOL)
    y, _ = kernels.adaptive_pool_forward(x, (1, 1), "max")
    np.testing.assert_array_equal(y, x.max(axis=(2, 3), keepdims=True))


# ---------------------------------------------------------------------------
# float32 in, float32 out
# ---------------------------------------------------------------------------

def test_float32_is_preserved_everywhere():
    rng = _rng(2)
    f32 = np.float32
    x = rng.standard_normal((2, 4, 6, 5)).astype(f32)
    w = rng.standard_normal((6, 2, 3, 3)).astype(f32)
    b = rng.standard_normal(6).astype(f32)
    geometry = ((2, 1), (1, 1), ((1, 1), (1, 0)), 2, (3, 4))
    y = kernels.conv_forward(x, w, b, *geometry)
    ref = kernels.conv_forward(x.astype(float), w.astype(float), b.astype(float), *geometry)
    assert y.dtype == f32
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)
    grads = kernels.conv_backward(np.ones_like(y), x, w, *geometry, has_bias=True)
    assert all(g.dtype == f32 for g in grads)

    wt = rng.standard_normal((4, 3, 2, 2)).astype(f32)
    t_geometry = ((2, 2), (1, 1), ((0, 0), (0, 0)), 2, (12, 10))
    yt = kernels.conv_transpose_forward(x, wt, None, *t_geometry)
    assert yt.dtype == f32
    assert all(g is None or g.dtype == f32 for g in
               kernels.conv_transpose_backward(yt, x, wt, *t_geometry, has_bias=True))

    pool_geometry = ((3, 3), (2, 2), (1, 1), ((1, 1), (1, 1)), (4, 3))
    ym, argmax = kernels.max_pool_forward(x, *pool_geometry)
    assert ym.dtype == f32 and kernels.max_pool_backward(ym, argmax, x.shape).dtype == f32
    ya = kernels.avg_pool_forward(x, (3, 3), (2, 2), ((1, 1), (1, 1)), (4, 3), False)
    assert ya.dtype == f32
    assert kernels.avg_pool_backward(ya, x.shape, (3, 3), (2, 2), ((1, 1), (1, 1)), (4, 3),
                                     False).dtype == f32
    for mode in ("max", "avg"):
        yp, cache = kernels.adaptive_pool_forward(x, (2, 3), mode)
        assert yp.dtype == f32
        assert kernels.adaptive_pool_backward(yp, x, (2, 3), mode, cache).dtype == f32
        ys, cache = kernels.spp_forward(x, (1, 2), mode)
        assert ys.dtype == f32 and kernels.spp_backward(ys, x, (1, 2), mode, cache).dtype == f32
    # the kernels that live with their layer types: tests/test_layer_kernels.py


# ---------------------------------------------------------------------------
# Support kernels of `verify --rf` (booleans, a kernel of ones, one axis at a time)
# ---------------------------------------------------------------------------

def _bool_seed(case, shape):
    dy = _rng(case["seed"]).random((case["n_batch"], 1) + shape) < 0.3
    dy[(0, 0) + tuple(n // 2 for n in shape)] = True  # never all-empty
    return dy


@FAST
@given(conv_cases(allow_groups=False))
def test_conv_support_adjoint_is_where_the_naive_transposed_conv_of_ones_is_nonzero(case):
    """conv's dX support: the naive full-kernel transposed conv with a kernel of ones, > 0."""
    dy = _bool_seed(case, case["out_size"])
    ones = np.ones((1, 1) + case["kernel"])
    expected = naive.conv_transpose(dy.astype(np.float64), ones, None, case["stride"], case["dilation"],
                                    case["pads"], 1, case["spatial"]) > 0
    got = kernels.correlate_support_adjoint(dy, case["kernel"], case["stride"], case["dilation"], case["pads"],
                                            case["spatial"])
    assert got.dtype == bool
    np.testing.assert_array_equal(got, expected)


@FAST
@given(conv_cases(transposed=True, allow_groups=False))
def test_conv_transpose_support_is_where_the_naive_conv_of_ones_is_nonzero(case):
    """conv_transpose's dX support: the naive full-kernel conv with a kernel of ones, > 0."""
    dy = _bool_seed(case, case["out_size"])
    ones = np.ones((1, 1) + case["kernel"])
    expected = naive.conv(dy.astype(np.float64), ones, None, case["stride"], case["dilation"], case["pads"], 1,
                          case["spatial"]) > 0
    got = kernels.correlate_support(dy, case["kernel"], case["stride"], case["dilation"], case["pads"],
                                    case["spatial"])
    assert got.dtype == bool
    np.testing.assert_array_equal(got, expected)
