"""Layers that act on each position independently: activations, batchnorm, dropout, lrn,
softmax over channels, identity. Their receptive field is their input's.

An activation is one class: its FLOPs per element (contract §4), `fn` (forward on an array) and
`grad` (the input gradient from the input x, the output y — None when not kept — and dy), both
with PyTorch's semantics. Under `verify --rf` activations pass values through (PASS_THROUGH): a
pointwise layer cannot change a field, but saturation (relu6 above 6, tanh far out) could zero a
gradient. NumPy is imported inside the kernels only (analyze never pays for it).
"""

from __future__ import annotations

import math

from netcalc.formula import C, Dims, Metric, Num, Sym, per_element
from netcalc.layers.base import PASS_THROUGH, LayerType, Node, register
from netcalc.params import Param


class Elementwise(LayerType):
    """A layer with a fixed FLOP cost per element and a pointwise field."""

    flops_count = per_element(0)


class Activation(Elementwise):
    """y = fn(x) element by element; subclasses give fn, grad and their FLOPs per element."""

    probe = PASS_THROUGH

    def fn(self, x):
        return x.copy()

    def grad(self, x, y, dy):
        return dy.copy()

    def forward(self, node, inputs, weights, ctx):
        return self.fn(inputs[0]), None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        return [self.grad(inputs[0], output, grad_output)], {}


def _where(cond, a, b, dtype):
    import numpy as np

    return np.where(cond, a, b).astype(dtype, copy=False)


def sigmoid(x):
    import numpy as np

    e = np.exp(-np.abs(x))  # exp(-|x|) never overflows, for either sign
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def erf(x):
    import numpy as np

    # scipy is unavailable; math.erf is exact
    return np.frompyfunc(math.erf, 1, 1)(x.astype(np.float64)).astype(x.dtype)


@register
class Relu(Activation):
    name = "relu"
    summary = "max(x, 0): one compare"
    flops_count = per_element(1)

    def forward(self, node, inputs, weights, ctx):
        import numpy as np

        # inference: max(x, 0) in place, when the executor says nobody reads x again and x owns
        # its memory (a flatten's output is a view of an array that may still be live)
        if ctx.overwrite_input and inputs[0].base is None:
            return np.maximum(inputs[0], 0, out=inputs[0]), None
        return self.fn(inputs[0]), None

    def fn(self, x):
        import numpy as np

        return np.maximum(x, 0)

    def grad(self, x, y, dy):
        return _where(x > 0, dy, 0, dy.dtype)


@register
class Relu6(Activation):
    name = "relu6"
    summary = "min(max(x, 0), 6): two compares"
    flops_count = per_element(2)

    def fn(self, x):
        import numpy as np

        return np.clip(x, 0, 6)

    def grad(self, x, y, dy):  # PyTorch's hardtanh backward: open interval (0, 6)
        return _where((x > 0) & (x < 6), dy, 0, dy.dtype)


@register
class LeakyRelu(Activation):
    name = "leaky_relu"
    summary = "x if x > 0 else 0.01·x: compare, multiply"
    flops_count = per_element(2)

    def fn(self, x):
        import numpy as np

        return np.where(x > 0, x, x * 0.01)

    def grad(self, x, y, dy):
        import numpy as np

        return np.where(x > 0, dy, dy * 0.01)


@register
class Sigmoid(Activation):
    name = "sigmoid"
    summary = "1 / (1 + exp(−x))"
    flops_count = per_element(4)

    def fn(self, x):
        return sigmoid(x)

    def grad(self, x, y, dy):
        y = self.fn(x) if y is None else y
        return dy * y * (1 - y)


@register
class Tanh(Activation):
    name = "tanh"
    summary = "tanh(x)"
    flops_count = per_element(5)

    def fn(self, x):
        import numpy as np

        return np.tanh(x)

    def grad(self, x, y, dy):
        y = self.fn(x) if y is None else y
        return dy * (1 - y * y)


@register
class Silu(Activation):
    name = "silu"
    summary = "x · sigmoid(x)"
    flops_count = per_element(5)

    def fn(self, x):
        return x * sigmoid(x)

    def grad(self, x, y, dy):
        sig = sigmoid(x)
        return dy * sig * (1 + x * (1 - sig))


_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@register
class Gelu(Activation):
    name = "gelu"
    summary = "x · Φ(x), exact (erf)"
    flops_count = per_element(5)

    def fn(self, x):
        return 0.5 * x * (1.0 + erf(x * _SQRT_HALF))

    def grad(self, x, y, dy):
        import numpy as np

        cdf = 0.5 * (1.0 + erf(x * _SQRT_HALF))
        return dy * (cdf + x * _INV_SQRT_2PI * np.exp(-0.5 * x * x))


@register
class Hardswish(Activation):
    name = "hardswish"
    summary = "x · relu6(x + 3) / 6"
    flops_count = per_element(5)

    def fn(self, x):
        import numpy as np

        return x * np.clip(x + 3, 0, 6) / 6

    def grad(self, x, y, dy):  # PyTorch: 0 below -3, x/3 + 1/2 on [-3, 3], 1 above
        import numpy as np

        return _where(x < -3, 0, np.where(x <= 3, dy * (x / 3 + 0.5), dy), dy.dtype)


@register
class Identity(Activation):
    name = "identity"
    summary = "passes its input through"


@register
class Dropout(Activation):
    name = "dropout"
    summary = "identity at inference"
    params = (Param("p", "float", 0.5, minimum=0),)


# ---- batch normalisation (inference form) ----

def _channel_param(values, ndim, dtype):
    import numpy as np

    return np.asarray(values, dtype=dtype).reshape((1, -1) + (1,) * (ndim - 2))


def batchnorm_forward(x, weight, bias, running_mean, running_var, eps):
    """Inference batch norm: (x - mean) / sqrt(var + eps) * gamma + beta per channel."""
    import numpy as np

    # Folded per channel into y = x·a + b (two passes over x instead of four):
    # a = gamma / sqrt(var + eps), b = beta − mean·a.
    scale = 1.0 / np.sqrt(_channel_param(running_var, x.ndim, x.dtype) + x.dtype.type(eps))
    if weight is not None:
        scale = scale * _channel_param(weight, x.ndim, x.dtype)
    shift = -_channel_param(running_mean, x.ndim, x.dtype) * scale
    if bias is not None:
        shift = shift + _channel_param(bias, x.ndim, x.dtype)
    y = x * scale
    y += shift
    return y


def batchnorm_backward(dy, x, weight, running_mean, running_var, eps):
    """(dx, dweight|None, dbias) of :func:`batchnorm_forward` (statistics are constants)."""
    import numpy as np

    inv_std = 1.0 / np.sqrt(_channel_param(running_var, x.ndim, x.dtype) + x.dtype.type(eps))
    x_hat = (x - _channel_param(running_mean, x.ndim, x.dtype)) * inv_std
    scale = inv_std if weight is None else inv_std * _channel_param(weight, x.ndim, x.dtype)
    reduce_axes = (0,) + tuple(range(2, x.ndim))
    dweight = None if weight is None else (dy * x_hat).sum(axis=reduce_axes)
    return dy * scale, dweight, dy.sum(axis=reduce_axes)


@register
class BatchNorm(Elementwise):
    name = "batchnorm"
    summary = "batch normalisation, inference form x·a + b per channel"
    params = (Param("eps", "float", 1e-5, minimum=0), Param("momentum", "float", 0.1, minimum=0))
    flops_count = per_element(2)
    params_count = Metric(2 * C, lines=("{rule} = {worked} = {value} (scale, shift)",))
    buffers_count = Metric(2 * C, lines=("{rule} = {worked} = {value} (running mean, variance)",))

    def weight_shapes(self, node: Node):
        c = (node.in_shape[0],)
        return {"weight": c, "bias": c, "running_mean": c, "running_var": c}

    def random_weights(self, node: Node, rng, positive: bool = False) -> dict:
        import numpy as np

        # scale ≈ 1 and variance in [0.5, 1.5]; the rf probe also zeroes shift and mean
        c = (node.in_shape[0],)
        values = {"weight": rng.uniform(0.5, 1.5, c), "bias": rng.normal(0, 0.1, c),
                  "running_mean": rng.normal(0, 0.1, c), "running_var": rng.uniform(0.5, 1.5, c)}
        if positive:
            values["bias"], values["running_mean"] = np.zeros(c), np.zeros(c)
        return values

    def forward(self, node, inputs, weights, ctx):
        return batchnorm_forward(inputs[0], weights["weight"], weights["bias"], weights["running_mean"],
                                 weights["running_var"], node.params["eps"]), None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        dx, dw, db = batchnorm_backward(grad_output, inputs[0], weights["weight"], weights["running_mean"],
                                        weights["running_var"], node.params["eps"])
        return [dx], {"weight": dw, "bias": db}


# ---- local response normalisation ----

def _channel_window_sum(a, before, after):
    """out[:, c] = sum of a[:, c-before .. c+after], zero outside the channel range."""
    import numpy as np

    channels = a.shape[1]
    out = np.zeros_like(a)
    for shift in range(-before, after + 1):
        lo, hi = max(0, -shift), min(channels, channels - shift)
        if lo < hi:
            out[:, lo:hi] += a[:, lo + shift:hi + shift]
    return out


def _lrn_denominator(x, size, alpha, k):
    # PyTorch pads size//2 channels before and (size-1)//2 after, then averages.
    window_sum = _channel_window_sum(x * x, size // 2, (size - 1) // 2)
    return k + (alpha / size) * window_sum


def lrn_forward(x, size, alpha=1e-4, beta=0.75, k=1.0):
    """PyTorch LocalResponseNorm: b_c = a_c / (k + alpha/size * sum a_c'^2)^beta."""
    return x / _lrn_denominator(x, size, alpha, k) ** beta


def lrn_backward(dy, x, size, alpha=1e-4, beta=0.75, k=1.0):
    """dx of :func:`lrn_forward`.

    dx_j = dy_j D_j^-beta - 2 beta alpha/size a_j * sum_{c: j in W(c)} dy_c a_c D_c^(-beta-1);
    j in W(c) iff c in [j - (size-1)//2, j + size//2] (the mirrored window).
    """
    denom = _lrn_denominator(x, size, alpha, k)
    scaled = denom ** -beta
    through_denominator = _channel_window_sum(dy * x * scaled / denom, (size - 1) // 2, size // 2)
    return dy * scaled - (2.0 * beta * alpha / size) * x * through_denominator


@register
class LRN(Elementwise):
    name = "lrn"
    summary = "local response normalisation across channels (PyTorch's LocalResponseNorm)"
    params = (Param("size", "int", minimum=1), Param("alpha", "float", 1e-4, minimum=0),
              Param("beta", "float", 0.75, minimum=0), Param("k", "float", 1.0, minimum=0))
    flops_count = Metric((2 * Sym("size", lambda n: n.params["size"]) + 3) * Dims("elements", lambda n: n.out_shape))

    def _args(self, node: Node):
        p = node.params
        return p["size"], p["alpha"], p["beta"], p["k"]

    def forward(self, node, inputs, weights, ctx):
        return lrn_forward(inputs[0], *self._args(node)), None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        return [lrn_backward(grad_output, inputs[0], *self._args(node))], {}


@register
class Softmax(Activation):
    name = "softmax"
    summary = "softmax over channels (over the features of a flat vector)"
    # C exps, C − 1 adds, C divides per position; probed as PASS_THROUGH (over one channel its
    # gradient is zero)
    flops_count = Metric((3 * C - Num(1)) * Dims("positions", lambda n: n.in_shape[1:]))

    def fn(self, x):
        import numpy as np

        shifted = np.exp(x - x.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def grad(self, x, y, dy):
        y = self.fn(x) if y is None else y
        return y * (dy - (dy * y).sum(axis=1, keepdims=True))
