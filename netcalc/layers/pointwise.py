"""Layers that act on each position independently: activations, batchnorm, dropout, lrn,
softmax over channels, identity. Their receptive field is their input's.

An activation is one `activation(...)` line: its FLOPs per element (contract §4), `fn(np, x)`
(forward on an array) and `grad(np, x, y, dy)` (the input gradient from the input x, the output y
and dy), both with PyTorch's semantics. Under `verify --rf` activations pass values through (PASS_THROUGH): a
pointwise layer cannot change a field, but saturation (relu6 above 6, tanh far out) could zero a
gradient. NumPy is imported inside the kernels only (analyze never pays for it).
"""

from __future__ import annotations

import math

from math import prod

from netcalc.formula import C, Dims, Metric, Num, Sym, per_element
from netcalc.layers.base import PASS_THROUGH, LayerType, Node, pointwise_support, register
from netcalc.params import Param
from netcalc.saved import INPUT, MASK, OUTPUT, VIEW, Stats, Temporary


class Elementwise(LayerType):
    """A layer with a fixed FLOP cost per element and a pointwise field."""

    flops_count = per_element(0)
    support = pointwise_support


class Activation(Elementwise):
    """y = fn(x) element by element. `activation()` below registers one from its FLOPs per
    element and two functions of NumPy: fn(np, x) and grad(np, x, y, dy) → dx, with y = fn(x)."""

    probe = PASS_THROUGH

    @staticmethod
    def _fn(np, x):
        return x.copy()

    @staticmethod
    def _grad(np, x, y, dy):
        return dy.copy()

    def fn(self, x):
        import numpy as np

        return self._fn(np, x)

    def grad(self, x, y, dy):
        """dx from the input x, the output y (None: computed here) and dy."""
        import numpy as np

        return self._grad(np, x, self.fn(x) if y is None else y, dy)

    def forward(self, node, inputs, weights, ctx):
        return self.fn(inputs[0]), None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        return [self.grad(inputs[0], output, grad_output)], {}


def activation(name: str, flops, summary: str, fn=None, grad=None, params=(), base=Activation, saved=(INPUT,)):
    """Register an activation: FLOPs per element (an int, or a formula.Metric), fn(np, x) and
    grad(np, x, y, dy) with PyTorch's semantics (default: identity), and what PyTorch's autograd
    keeps for its backward in training (netcalc.saved; default its input)."""
    body = {"name": name, "summary": summary, "params": params, "saved": saved,
            "flops_count": per_element(flops) if isinstance(flops, int) else flops}
    if fn is not None:
        body.update(_fn=staticmethod(fn), _grad=staticmethod(grad))
    return register(type(name.title().replace("_", ""), (base,), body))


def sigmoid(np, x):
    e = np.exp(-np.abs(x))  # exp(-|x|) never overflows, for either sign
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def erf(np, x):
    # scipy is unavailable; math.erf is exact
    return np.frompyfunc(math.erf, 1, 1)(x.astype(np.float64)).astype(x.dtype)


def _keep(dtype):
    return lambda array: array.astype(dtype, copy=False)


class InPlaceRelu(Activation):
    def forward(self, node, inputs, weights, ctx):
        import numpy as np

        # inference: max(x, 0) in place, when the executor says nobody reads x again and x owns
        # its memory (a flatten's output is a view of an array that may still be live)
        if ctx.overwrite_input and inputs[0].base is None:
            return np.maximum(inputs[0], 0, out=inputs[0]), None
        return self.fn(inputs[0]), None


_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

# contract §4: FLOPs per element
activation("relu", 1, "max(x, 0): one compare", lambda np, x: np.maximum(x, 0),
           lambda np, x, y, dy: _keep(dy.dtype)(np.where(x > 0, dy, 0)), base=InPlaceRelu, saved=(OUTPUT,))
activation("relu6", 2, "min(max(x, 0), 6): two compares", lambda np, x: np.clip(x, 0, 6),
           # PyTorch's hardtanh backward: open interval (0, 6)
           lambda np, x, y, dy: _keep(dy.dtype)(np.where((x > 0) & (x < 6), dy, 0)))
activation("leaky_relu", 2, "x if x > 0 else 0.01·x: compare, multiply", lambda np, x: np.where(x > 0, x, x * 0.01),
           lambda np, x, y, dy: np.where(x > 0, dy, dy * 0.01))
activation("sigmoid", 4, "1 / (1 + exp(−x))", sigmoid, lambda np, x, y, dy: dy * y * (1 - y), saved=(OUTPUT,))
activation("tanh", 5, "tanh(x)", lambda np, x: np.tanh(x), lambda np, x, y, dy: dy * (1 - y * y), saved=(OUTPUT,))
activation("silu", 5, "x · sigmoid(x)", lambda np, x: x * sigmoid(np, x),
           lambda np, x, y, dy: dy * sigmoid(np, x) * (1 + x * (1 - sigmoid(np, x))))
activation("gelu", 5, "x · Φ(x), exact (erf)", lambda np, x: 0.5 * x * (1.0 + erf(np, x * _SQRT_HALF)),
           lambda np, x, y, dy: dy * (0.5 * (1.0 + erf(np, x * _SQRT_HALF)) + x * _INV_SQRT_2PI * np.exp(-0.5 * x * x)))
activation("hardswish", 5, "x · relu6(x + 3) / 6", lambda np, x: x * np.clip(x + 3, 0, 6) / 6,
           # PyTorch: 0 below -3, x/3 + 1/2 on [-3, 3], 1 above
           lambda np, x, y, dy: _keep(dy.dtype)(np.where(x < -3, 0, np.where(x <= 3, dy * (x / 3 + 0.5), dy))))
activation("hardsigmoid", 4, "relu6(x + 3) / 6: add, two compares, divide", lambda np, x: np.clip(x + 3, 0, 6) / 6,
           # PyTorch: dy/6 on the open interval (−3, 3), 0 elsewhere
           lambda np, x, y, dy: _keep(dy.dtype)(np.where((x > -3) & (x < 3), dy / 6, 0)))
activation("identity", 0, "passes its input through", saved=(VIEW,))
# training keeps a 1-byte mask per element (PyTorch's CUDA kernel; its CPU one keeps a float mask)
activation("dropout", 0, "identity at inference", params=(Param("p", "float", 0.5, minimum=0),), saved=(MASK,))


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
    # training: its input and the batch's mean and inverse std per channel (float32)
    saved = (INPUT, Stats(2, "channel"))
    family = "norm"

    def weight_shapes(self, node: Node):
        c = (node.in_shape[0],)
        return {"weight": c, "bias": c, "running_mean": c, "running_var": c}

    def random_weights(self, node: Node, rng, positive: bool = False, dtype=None) -> dict:
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
    # training, as PyTorch's functional form saves: the input (for x², x / d), the squares padded
    # on channels (for the window average), the base k + α·avg (for the power) and d (for x / d)
    saved = (INPUT,
             Temporary("its squared input padded on channels ((C + size − 1)·Πs)",
                       lambda n: (n.in_shape[0] + n.params["size"] - 1) * prod(n.in_shape[1:])),
             Temporary("the base k + α·avg of the denominator (input size)", lambda n: prod(n.in_shape)),
             Temporary("the denominator (input size)", lambda n: prod(n.in_shape)))
    family = "norm"

    def _args(self, node: Node):
        p = node.params
        return p["size"], p["alpha"], p["beta"], p["k"]

    def forward(self, node, inputs, weights, ctx):
        return lrn_forward(inputs[0], *self._args(node)), None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        return [lrn_backward(grad_output, inputs[0], *self._args(node))], {}

    def support(self, node, dy, ctx):
        # pointwise in space; across channels it reaches neighbours, which matters only when dy
        # covers some channels of a position and not others: then the real backward runs
        return [dy] if dy.shape[1] == 1 else super(Elementwise, self).support(node, dy, ctx)


def _softmax(np, x):
    shifted = np.exp(x - x.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


# C exps, C − 1 adds, C divides per position; probed as PASS_THROUGH (over one channel its
# gradient is zero)
activation("softmax", Metric((3 * C - Num(1)) * Dims("positions", lambda n: n.in_shape[1:])),
           "softmax over channels (over the features of a flat vector)", _softmax,
           lambda np, x, y, dy: y * (dy - (dy * y).sum(axis=1, keepdims=True)), saved=(OUTPUT,))
