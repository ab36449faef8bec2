"""Naive direct-definition references for netcalc.kernels (test-only).

Written independently of kernels.py: explicit Python loops over output
positions, channels and kernel offsets, no strided views, no GEMM.  Only
meant for tiny float64 cases.
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def numerical_grad(f, x, eps=1e-6):
    """Central finite-difference gradient of the scalar function f(x).

    x is perturbed in place, one element at a time, and restored afterwards,
    so f may also be a closure that reads the same array.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    flat_x, flat_grad = x.reshape(-1), grad.reshape(-1)
    for i in range(flat_x.size):
        saved = flat_x[i]
        flat_x[i] = saved + eps
        f_plus = f(x)
        flat_x[i] = saved - eps
        f_minus = f(x)
        flat_x[i] = saved
        flat_grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def _positions(shape):
    return itertools.product(*(range(n) for n in shape))


def _in_range(coords, spatial):
    return all(0 <= c < n for c, n in zip(coords, spatial))


# ---------------------------------------------------------------------------
# Convolution: the definition sum_{ci, k} w * x[o*s + k*d - pad]
# ---------------------------------------------------------------------------

def conv(x, w, b, stride, dilation, pads, groups, out_size):
    n_batch, c_in = x.shape[:2]
    c_out, c_group = w.shape[:2]
    kernel = w.shape[2:]
    spatial = x.shape[2:]
    co_group = c_out // groups
    y = np.zeros((n_batch, c_out) + tuple(out_size))
    for n in range(n_batch):
        for co in range(c_out):
            g = co // co_group
            for o in _positions(out_size):
                acc = 0.0 if b is None else float(b[co])
                for ci_local in range(c_group):
                    ci = g * c_group + ci_local
                    for k in _positions(kernel):
                        coords = tuple(oi * s + ki * d - p[0] for oi, ki, s, d, p
                                       in zip(o, k, stride, dilation, pads))
                        if _in_range(coords, spatial):
                            acc += w[(co, ci_local) + k] * x[(n, ci) + coords]
                y[(n, co) + o] = acc
    return y


def im2col(x, kernel, stride, dilation, pads, out_size, pad_value=0.0):
    n_batch, channels = x.shape[:2]
    spatial = x.shape[2:]
    k_size = math.prod(kernel)
    cols = np.full((n_batch, channels * k_size, math.prod(out_size)), pad_value, dtype=float)
    for n in range(n_batch):
        for c in range(channels):
            for k_index, k in enumerate(_positions(kernel)):
                for o_index, o in enumerate(_positions(out_size)):
                    coords = tuple(oi * s + ki * d - p[0] for oi, ki, s, d, p
                                   in zip(o, k, stride, dilation, pads))
                    if _in_range(coords, spatial):
                        cols[n, c * k_size + k_index, o_index] = x[(n, c) + coords]
    return cols


def _correlate_stride1(a, kernel_values):
    """Valid stride-1 correlation of one N-d plane with one N-d kernel (loops)."""
    out_shape = tuple(n - k + 1 for n, k in zip(a.shape, kernel_values.shape))
    out = np.zeros(out_shape)
    for o in _positions(out_shape):
        acc = 0.0
        for k in _positions(kernel_values.shape):
            acc += a[tuple(oi + ki for oi, ki in zip(o, k))] * kernel_values[k]
        out[o] = acc
    return out


def conv_transpose(x, w, b, stride, dilation, pads, groups, out_size):
    """Transposed conv the seed notes' way.

    Insert (s-1) zeros between input pixels, dilate the kernel, pad by
    D-1 = d*(k-1) on both sides (plus zeros for output_padding), run a
    stride-1 correlation with the spatially flipped kernel, then crop
    pads[before] and keep out_size elements.
    """
    n_batch, c_in = x.shape[:2]
    _, co_group = w.shape[:2]
    kernel = w.shape[2:]
    spatial = x.shape[2:]
    ci_group = c_in // groups
    c_out = co_group * groups
    nd = len(spatial)
    dilated_len = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    full_len = tuple((n - 1) * s + dk for n, s, dk in zip(spatial, stride, dilated_len))
    extra = tuple(max(0, p[0] + o - f) for p, o, f in zip(pads, out_size, full_len))
    y = np.zeros((n_batch, c_out) + tuple(out_size))
    for n in range(n_batch):
        for ci in range(c_in):
            g = ci // ci_group
            # zero insertion: z[i*s] = x[i]
            zeros_inserted = np.zeros(tuple((m - 1) * s + 1 for m, s in zip(spatial, stride)))
            for i in _positions(spatial):
                zeros_inserted[tuple(ii * s for ii, s in zip(i, stride))] = x[(n, ci) + i]
            padded = np.zeros(tuple(z + 2 * (dk - 1) + e for z, dk, e
                                    in zip(zeros_inserted.shape, dilated_len, extra)))
            padded[tuple(slice(dk - 1, dk - 1 + z) for dk, z
                         in zip(dilated_len, zeros_inserted.shape))] = zeros_inserted
            for co_local in range(co_group):
                dilated = np.zeros(dilated_len)
                for k in _positions(kernel):
                    dilated[tuple(ki * d for ki, d in zip(k, dilation))] = w[(ci, co_local) + k]
                flipped = dilated[(slice(None, None, -1),) * nd]
                full = _correlate_stride1(padded, flipped)
                crop = tuple(slice(p[0], p[0] + o) for p, o in zip(pads, out_size))
                y[(n, g * co_group + co_local)] += full[crop]
    if b is not None:
        for co in range(c_out):
            y[:, co] += b[co]
    return y


# ---------------------------------------------------------------------------
# Pooling by explicit windows
# ---------------------------------------------------------------------------

def max_pool(x, kernel, stride, dilation, pads, out_size):
    """Returns (y, flat argmax). Padding is skipped; first maximum wins.

    As in PyTorch, the argmax starts at the window's first in-range element
    and is replaced by a strictly larger value (or NaN).
    """
    n_batch, channels = x.shape[:2]
    spatial = x.shape[2:]
    y = np.zeros((n_batch, channels) + tuple(out_size))
    idx = np.zeros((n_batch, channels) + tuple(out_size), dtype=np.int64)
    for n in range(n_batch):
        for c in range(channels):
            for o in _positions(out_size):
                best, best_index = -math.inf, None
                for k in _positions(kernel):
                    coords = tuple(oi * s + ki * d - p[0] for oi, ki, s, d, p
                                   in zip(o, k, stride, dilation, pads))
                    if not _in_range(coords, spatial):
                        continue
                    value = x[(n, c) + coords]
                    if best_index is None:
                        best_index = coords
                    if value > best or math.isnan(value):
                        best, best_index = value, coords
                y[(n, c) + o] = best
                # a window lying wholly in padding (possible with dilation) has no argmax
                idx[(n, c) + o] = (-1 if best_index is None
                                   else np.ravel_multi_index(best_index, spatial))
    return y, idx


def max_pool_backward(dy, idx, x_shape):
    dx = np.zeros(x_shape)
    spatial = x_shape[2:]
    for n in range(x_shape[0]):
        for c in range(x_shape[1]):
            for o in _positions(dy.shape[2:]):
                if idx[(n, c) + o] < 0:
                    continue
                coords = np.unravel_index(idx[(n, c) + o], spatial)
                dx[(n, c) + tuple(coords)] += dy[(n, c) + o]
    return dx


def avg_pool(x, kernel, stride, pads, out_size, count_include_pad=True):
    """PyTorch's divisor rule, by explicit windows."""
    n_batch, channels = x.shape[:2]
    spatial = x.shape[2:]
    y = np.zeros((n_batch, channels) + tuple(out_size))
    for n in range(n_batch):
        for c in range(channels):
            for o in _positions(out_size):
                pool_size, clipped_size, total = 1, 1, 0.0
                ranges = []
                for oi, k, s, p, size in zip(o, kernel, stride, pads, spatial):
                    start = oi * s - p[0]
                    end = min(start + k, size + p[1])
                    pool_size *= end - start
                    start, end = max(start, 0), min(end, size)
                    clipped_size *= end - start
                    ranges.append(range(start, end))
                for coords in itertools.product(*ranges):
                    total += x[(n, c) + coords]
                y[(n, c) + o] = total / (pool_size if count_include_pad else clipped_size)
    return y


def adaptive_pool(x, out_size, mode):
    n_batch, channels = x.shape[:2]
    spatial = x.shape[2:]
    y = np.zeros((n_batch, channels) + tuple(out_size))
    for n in range(n_batch):
        for c in range(channels):
            for o in _positions(out_size):
                ranges = [range(math.floor(oi * n_in / n_out), math.ceil((oi + 1) * n_in / n_out))
                          for oi, n_in, n_out in zip(o, spatial, out_size)]
                values = [x[(n, c) + coords] for coords in itertools.product(*ranges)]
                y[(n, c) + o] = max(values) if mode == "max" else sum(values) / len(values)
    return y


def spp(x, levels, mode):
    nd = x.ndim - 2
    return np.concatenate([adaptive_pool(x, (lv,) * nd, mode).reshape(x.shape[0], -1)
                           for lv in levels], axis=1)


# ---------------------------------------------------------------------------
# Upsampling: per output position, 2**d corner weights
# ---------------------------------------------------------------------------

def upsample(x, out_size, mode, scale=None):
    spatial = x.shape[2:]
    nd = len(spatial)
    scales = (None,) * nd if scale is None else (
        (scale,) * nd if np.isscalar(scale) else tuple(scale))
    y = np.zeros(x.shape[:2] + tuple(out_size))
    for o in _positions(out_size):
        per_dim = []  # per dim: [(source index, weight), ...]
        for oi, n_in, n_out, sc in zip(o, spatial, out_size, scales):
            if mode == "nearest":
                src = math.floor(oi / sc) if sc is not None else math.floor(oi * n_in / n_out)
                per_dim.append([(min(src, n_in - 1), 1.0)])
            else:
                r = 1.0 / sc if sc is not None else n_in / n_out
                src = max((oi + 0.5) * r - 0.5, 0.0)
                i0 = min(int(math.floor(src)), n_in - 1)
                i1 = min(i0 + 1, n_in - 1)
                lam = src - i0
                per_dim.append([(i0, 1.0 - lam), (i1, lam)])
        for combo in itertools.product(*per_dim):
            coords = tuple(c for c, _ in combo)
            weight = math.prod(wt for _, wt in combo)
            y[(slice(None), slice(None)) + o] += weight * x[(slice(None), slice(None)) + coords]
    return y


# ---------------------------------------------------------------------------
# Per-element / per-channel definitions
# ---------------------------------------------------------------------------

def linear(x, w, b):
    y = np.zeros((x.shape[0], w.shape[0]))
    for n in range(x.shape[0]):
        for j in range(w.shape[0]):
            y[n, j] = sum(x[n, i] * w[j, i] for i in range(w.shape[1])) + (0.0 if b is None else b[j])
    return y


def batchnorm(x, weight, bias, mean, var, eps):
    y = np.zeros_like(x, dtype=float)
    for c in range(x.shape[1]):
        gamma = 1.0 if weight is None else weight[c]
        beta = 0.0 if bias is None else bias[c]
        y[:, c] = (x[:, c] - mean[c]) / math.sqrt(var[c] + eps) * gamma + beta
    return y


def lrn(x, size, alpha=1e-4, beta=0.75, k=1.0):
    channels = x.shape[1]
    y = np.zeros_like(x, dtype=float)
    for c in range(channels):
        lo = c - size // 2
        hi = c + (size + 1) // 2 - 1  # c - floor(size/2) .. c + ceil(size/2) - 1
        sq = np.zeros_like(x[:, 0], dtype=float)
        for cc in range(lo, hi + 1):
            if 0 <= cc < channels:
                sq += x[:, cc] ** 2
        y[:, c] = x[:, c] / (k + alpha / size * sq) ** beta
    return y


def _gelu(v):
    return 0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0)))


def _sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))


_SCALAR = {
    "relu": lambda v: v if v > 0 else 0.0,
    "relu6": lambda v: min(max(v, 0.0), 6.0),
    "leaky_relu": lambda v: v if v > 0 else 0.01 * v,
    "sigmoid": _sigmoid,
    "tanh": math.tanh,
    "gelu": _gelu,
    "silu": lambda v: v * _sigmoid(v),
    "hardswish": lambda v: v * min(max(v + 3.0, 0.0), 6.0) / 6.0,
    "hardsigmoid": lambda v: min(max(v + 3.0, 0.0), 6.0) / 6.0,
    "identity": lambda v: v,
    "dropout": lambda v: v,
}


def activation(name, x):
    if name == "softmax":
        y = np.zeros_like(x, dtype=float)
        for idx in np.ndindex(x.shape[0], *x.shape[2:]):
            sel = (idx[0], slice(None)) + idx[1:]
            column = [float(v) for v in x[sel]]
            top = max(column)
            exps = [math.exp(v - top) for v in column]
            y[sel] = [e / sum(exps) for e in exps]
        return y
    f = _SCALAR[name]
    out = np.zeros_like(x, dtype=float)
    for idx in np.ndindex(*x.shape):
        out[idx] = f(float(x[idx]))
    return out


# ---------------------------------------------------------------------------
# One reference per registered layer type, as fn(node, inputs, weights) -> output: the
# registry-completeness test (tests/test_registry.py) runs each against the executor. They read
# the node's parameters and resolved geometry (pads, output size), never its kernels.
# ---------------------------------------------------------------------------

def _conv_layer(node, xs, w):
    g = node.geometry
    return conv(xs[0], w["weight"], w.get("bias"), g.stride, g.dilation, g.pads, g.groups, node.spatial_out)


def _conv_transpose_layer(node, xs, w):
    g = node.geometry
    return conv_transpose(xs[0], w["weight"], w.get("bias"), g.stride, g.dilation, g.pads, g.groups,
                          node.spatial_out)


def _maxpool_layer(node, xs, w):
    g = node.geometry
    return max_pool(xs[0], g.kernel, g.stride, g.dilation, g.pads, node.spatial_out)[0]


def _avgpool_layer(node, xs, w):
    g = node.geometry
    return avg_pool(xs[0], g.kernel, g.stride, g.pads, node.spatial_out, node.params["count_include_pad"])


def _adaptive_layer(mode):
    return lambda node, xs, w: adaptive_pool(xs[0], node.spatial_out, mode)


def _activation_layer(name):
    return lambda node, xs, w: activation(name, xs[0])


def _concat(xs):
    """Channel c of the output is channel c − (channels before) of the input it falls in."""
    out = np.zeros((xs[0].shape[0], sum(x.shape[1] for x in xs)) + xs[0].shape[2:])
    c = 0
    for x in xs:
        for k in range(x.shape[1]):
            out[:, c] = x[:, k]
            c += 1
    return out


def pixel_shuffle(x, r):
    """y[n, c, o₁…o_d] = x[n, c·r^d + Σ_k i_k·r^(d−1−k), ⌊o₁/r⌋…] with i_k = o_k mod r."""
    d = x.ndim - 2
    c_out = x.shape[1] // r ** d
    y = np.zeros((x.shape[0], c_out) + tuple(n * r for n in x.shape[2:]))
    for n in range(x.shape[0]):
        for c in range(c_out):
            for o in _positions(y.shape[2:]):
                offset = 0
                for o_k in o:
                    offset = offset * r + o_k % r
                y[(n, c) + o] = x[(n, c * r ** d + offset) + tuple(o_k // r for o_k in o)]
    return y


def _flatten(x):
    out = np.zeros((x.shape[0], x[0].size))
    for n in range(x.shape[0]):
        for i, idx in enumerate(np.ndindex(*x.shape[1:])):  # C order: channels first
            out[n, i] = x[(n,) + idx]
    return out


LAYERS = {
    "conv": _conv_layer,
    "depthwise": _conv_layer,
    "conv_transpose": _conv_transpose_layer,
    "maxpool": _maxpool_layer,
    "avgpool": _avgpool_layer,
    "adaptive_avgpool": _adaptive_layer("avg"),
    "adaptive_maxpool": _adaptive_layer("max"),
    "global_avgpool": _adaptive_layer("avg"),
    "global_maxpool": _adaptive_layer("max"),
    "spp": lambda node, xs, w: spp(xs[0], node.params["levels"], node.params["mode"]),
    "upsample": lambda node, xs, w: upsample(xs[0], node.spatial_out, node.params["mode"], node.geometry.scale),
    "linear": lambda node, xs, w: linear(xs[0], w["weight"], w.get("bias")),
    "flatten": lambda node, xs, w: _flatten(xs[0]),
    "batchnorm": lambda node, xs, w: batchnorm(xs[0], w["weight"], w["bias"], w["running_mean"], w["running_var"],
                                               node.params["eps"]),
    "lrn": lambda node, xs, w: lrn(xs[0], node.params["size"], node.params["alpha"], node.params["beta"],
                                   node.params["k"]),
    "add": lambda node, xs, w: np.sum(np.broadcast_arrays(*xs), axis=0),
    "mul": lambda node, xs, w: np.prod(np.broadcast_arrays(*xs), axis=0),
    "concat": lambda node, xs, w: _concat(xs),
    "pixel_shuffle": lambda node, xs, w: pixel_shuffle(xs[0], node.params["factor"]),
    **{name: _activation_layer(name) for name in (*_SCALAR, "softmax")},
}


# ---------------------------------------------------------------------------
# Contract §7 activations (issue 9): scalar definitions as PyTorch documents them, one element at a
# time with the math module, reading the node's parameters.
# ---------------------------------------------------------------------------

SELU_ALPHA = 1.6732632423543772848170429916717  # Klambauer et al. 2017
SELU_SCALE = 1.0507009873554804934193349852946


def _elu(v, alpha):
    return v if v > 0 else alpha * (math.exp(v) - 1.0)


def _softplus(v, beta, threshold):
    # PyTorch: x itself where beta·x > threshold, else log(1 + exp(beta·x)) / beta
    return v if beta * v > threshold else math.log1p(math.exp(beta * v)) / beta


def _mish(v):
    # PyTorch: x·tanh(log(1 + e^x)), no threshold (beyond 30, log(1 + e^x) = x to double precision)
    return v * math.tanh(math.log1p(math.exp(v)) if v < 30 else v)


def elementwise(x, f):
    out = np.zeros_like(x, dtype=float)
    for idx in np.ndindex(*x.shape):
        out[idx] = f(float(x[idx]))
    return out


def prelu(x, weight):
    """y = x if x > 0 else a·x; a = weight[0] shared, or weight[c] for channel c (axis 1)."""
    out = np.zeros_like(x, dtype=float)
    for idx in np.ndindex(*x.shape):
        a = weight[0] if len(weight) == 1 else weight[idx[1]]
        v = float(x[idx])
        out[idx] = v if v > 0 else a * v
    return out


# at their default parameters, for the activation tables keyed by name (tests/test_layer_kernels.py)
_SCALAR.update({
    "hardtanh": lambda v: min(max(v, -1.0), 1.0),
    "elu": lambda v: _elu(v, 1.0),
    "selu": lambda v: SELU_SCALE * _elu(v, SELU_ALPHA),
    "mish": _mish,
    "softplus": lambda v: _softplus(v, 1.0, 20.0),
})

LAYERS.update({
    "hardtanh": lambda node, xs, w: elementwise(xs[0], lambda v: min(max(v, node.params["min"]), node.params["max"])),
    "elu": lambda node, xs, w: elementwise(xs[0], lambda v: _elu(v, node.params["alpha"])),
    "selu": lambda node, xs, w: elementwise(xs[0], lambda v: SELU_SCALE * _elu(v, SELU_ALPHA)),
    "mish": lambda node, xs, w: elementwise(xs[0], _mish),
    "softplus": lambda node, xs, w: elementwise(
        xs[0], lambda v: _softplus(v, node.params["beta"], node.params["threshold"])),
    "prelu": lambda node, xs, w: prelu(xs[0], w["weight"]),
})


# Issue 9, the structural types (channel_shuffle, pixel_unshuffle, pad, slice) and conv's
# padding_mode: element by element from their definitions (PyTorch's documentation)
# ---------------------------------------------------------------------------

def channel_shuffle(x, groups):
    """y[:, i·g + k] = x[:, k·(C/g) + i]: ShuffleNet's reshape (g, C/g) → transpose, one channel
    at a time."""
    c = x.shape[1]
    per_group = c // groups
    y = np.zeros(x.shape)
    for k in range(groups):
        for i in range(per_group):
            y[:, i * groups + k] = x[:, k * per_group + i]
    return y


def pixel_unshuffle(x, r):
    """y[n, c·r^d + Σ_k i_k·r^(d−1−k), o₁…] = x[n, c, r·o₁ + i₁, …]: each output element from its
    definition."""
    d = x.ndim - 2
    out_spatial = tuple(n // r for n in x.shape[2:])
    y = np.zeros((x.shape[0], x.shape[1] * r ** d) + out_spatial)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for offsets in _positions((r,) * d):
                channel = c
                for i in offsets:
                    channel = channel * r + i
                for o in _positions(out_spatial):
                    y[(n, channel) + o] = x[(n, c) + tuple(r * ok + i for ok, i in zip(o, offsets))]
    return y


def _pad_source(i, n, mode):
    """The input index padded coordinate i (−before … n + after − 1) holds, or None for a
    filled position: PyTorch's reflect (mirror about the edge element), replicate (nearest
    edge), circular (wrap)."""
    if 0 <= i < n:
        return i
    if mode in ("zeros", "constant"):
        return None
    if mode == "replicate":
        return 0 if i < 0 else n - 1
    if mode == "circular":
        return i + n if i < 0 else i - n  # one wrap at most (PyTorch: pad ≤ size)
    if mode == "reflect":
        return -i if i < 0 else 2 * (n - 1) - i  # one mirror at most (PyTorch: pad < size)
    raise ValueError(mode)


def pad(x, pads, mode, value=0.0):
    """x padded by (before, after) per spatial dim, one output element at a time."""
    spatial = x.shape[2:]
    out_spatial = tuple(n + b + a for n, (b, a) in zip(spatial, pads))
    y = np.zeros(x.shape[:2] + out_spatial)
    for o in _positions(out_spatial):
        sources = [_pad_source(oi - b, n, mode) for oi, (b, _), n in zip(o, pads, spatial)]
        if None in sources:
            y[(slice(None), slice(None)) + o] = value
        else:
            y[(slice(None), slice(None)) + o] = x[(slice(None), slice(None)) + tuple(sources)]
    return y


def conv_padding_mode(x, w, b, stride, dilation, pads, groups, out_size, mode):
    """PyTorch's conv with a padding_mode: the input padded in that mode, then the plain conv."""
    if mode == "zeros":
        return conv(x, w, b, stride, dilation, pads, groups, out_size)
    return conv(pad(x, pads, mode), w, b, stride, dilation, tuple((0, 0) for _ in pads), groups, out_size)


def _conv_mode_layer(node, xs, w):
    g = node.geometry
    return conv_padding_mode(xs[0], w["weight"], w.get("bias"), g.stride, g.dilation, g.pads, g.groups,
                             node.spatial_out, node.params["padding_mode"])


LAYERS.update({
    "conv": _conv_mode_layer,
    "depthwise": _conv_mode_layer,
    "channel_shuffle": lambda node, xs, w: channel_shuffle(xs[0], node.params["groups"]),
    "pixel_unshuffle": lambda node, xs, w: pixel_unshuffle(xs[0], node.params["factor"]),
    "pad": lambda node, xs, w: pad(xs[0], node.params["padding"], node.params["mode"], node.params["value"]),
    # channels [start, end) with Python's negative indices (the node's parameters, as given)
    "slice": lambda node, xs, w: np.array(xs[0][:, node.params["start"]:node.params["end"]], dtype=float),
})


# ---------------------------------------------------------------------------
# Normalisation by the sample's own statistics and the residual-branch helpers
# (contract §7: layernorm, groupnorm, instancenorm, scale, drop_path). PyTorch's
# definitions, one group of values at a time: mean = Σv / m, var = Σ(v − mean)² / m
# (biased), y = (v − mean) / sqrt(var + eps) · w[c] + b[c].
# ---------------------------------------------------------------------------

def _normalise_values(values, eps):
    m = len(values)
    mean = sum(values) / m
    var = sum((v - mean) ** 2 for v in values) / m
    return [(v - mean) / math.sqrt(var + eps) for v in values]


def _affine(value, c, w, b):
    if w is not None:
        value *= float(w[c])
    if b is not None:
        value += float(b[c])
    return value


def layernorm(x, w, b, eps):
    """Over the channels at each position (over the features of a flat (N, F) input)."""
    y = np.zeros(x.shape)
    for n in range(x.shape[0]):
        for pos in _positions(x.shape[2:]):
            normed = _normalise_values([float(x[(n, c) + pos]) for c in range(x.shape[1])], eps)
            for c, value in enumerate(normed):
                y[(n, c) + pos] = _affine(value, c, w, b)
    return y


def groupnorm(x, groups, w, b, eps):
    """Each group of C/groups consecutive channels over all its positions."""
    y = np.zeros(x.shape)
    per_group = x.shape[1] // groups
    for n in range(x.shape[0]):
        for g in range(groups):
            keys = [(n, c) + pos for c in range(g * per_group, (g + 1) * per_group)
                    for pos in _positions(x.shape[2:])]
            for key, value in zip(keys, _normalise_values([float(x[k]) for k in keys], eps)):
                y[key] = _affine(value, key[1], w, b)
    return y


def channel_scale(x, w, b):
    y = np.zeros(x.shape)
    for index in _positions(x.shape):
        y[index] = _affine(float(x[index]), index[1], w, b)
    return y


LAYERS.update({
    "layernorm": lambda node, xs, w: layernorm(xs[0], w.get("weight"), w.get("bias"), node.params["eps"]),
    "groupnorm": lambda node, xs, w: groupnorm(xs[0], node.params["groups"], w.get("weight"), w.get("bias"),
                                               node.params["eps"]),
    "instancenorm": lambda node, xs, w: groupnorm(xs[0], xs[0].shape[1], w.get("weight"), w.get("bias"),
                                                  node.params["eps"]),
    "scale": lambda node, xs, w: channel_scale(xs[0], w["weight"], w.get("bias")),
    "drop_path": lambda node, xs, w: xs[0].copy(),  # inference: the identity
})
