"""The activations of contract §7: hardtanh, elu, selu, prelu, mish and softplus.

Each is one `activation(...)` line as in layers/pointwise.py (FLOPs per element, forward,
PyTorch's backward), except that these read their parameters: `fn(np, x, p)` and
`grad(np, x, y, dy, p)` receive the node's parameters p (min/max, alpha, beta, threshold). prelu
also has a learnable slope, so it is a small class of its own. All are pointwise (their receptive
field is their input's) and `verify --rf` probes them as pass-throughs, like every activation.

The derivative at a kink is PyTorch's: hardtanh passes the gradient on the open interval
(min, max) only; elu, selu and prelu take their negative branch at x = 0 (x ≤ 0); softplus is x
itself, gradient 1, where β·x > threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

from netcalc.errors import SpecError
from netcalc.formula import C, Case, Metric, Num, per_element
from netcalc.layers.base import PASS_THROUGH, Geometry, Node, register
from netcalc.layers.pointwise import Activation, Elementwise, activation, sigmoid
from netcalc.params import Param
from netcalc.saved import INPUT

# SELU's constants (Klambauer et al. 2017), as PyTorch writes them
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


class WithParams(Activation):
    """An activation whose fn(np, x, p) and grad(np, x, y, dy, p) read the node's parameters p
    (called without p, as the kernel tests do, they use the defaults). A subclass that must check
    its parameters together does it in configure(), with a located SpecError."""

    def fn(self, x, p=None):
        import numpy as np

        return self._fn(np, x, self._defaults(p))

    def grad(self, x, y, dy, p=None):
        import numpy as np

        p = self._defaults(p)
        return self._grad(np, x, self.fn(x, p) if y is None else y, dy, p)

    def _defaults(self, p):
        return {**{q.name: q.default for q in self.params}, **(p or {})}

    def forward(self, node, inputs, weights, ctx):
        return self.fn(inputs[0], node.params), None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        return [self.grad(inputs[0], output, grad_output, node.params)], {}


def _keep(dtype):
    return lambda array: array.astype(dtype, copy=False)


# ---- hardtanh: clip to [min, max] ----

class HardtanhBounds(WithParams):
    """hardtanh's check that its bounds make an interval."""

    def configure(self, node: Node):
        lo, hi = node.params["min"], node.params["max"]
        if not lo < hi:  # PyTorch's Hardtanh refuses max_val ≤ min_val too
            raise SpecError(f"hardtanh needs min < max, got min {lo:g} and max {hi:g}").located(node.param_loc("max"))
        return super().configure(node)


activation("hardtanh", 2, "min(max(x, min), max): two compares",
           lambda np, x, p: np.clip(x, x.dtype.type(p["min"]), x.dtype.type(p["max"])),
           # PyTorch: the gradient passes on the open interval (min, max) only
           lambda np, x, y, dy, p: _keep(dy.dtype)(np.where((x > p["min"]) & (x < p["max"]), dy, 0)),
           params=(Param("min", "float", -1.0, aliases=("min_val",)),
                   Param("max", "float", 1.0, aliases=("max_val",))), base=HardtanhBounds)


# ---- elu and selu: α·(exp(x) − 1) below zero ----

def _elu(np, x, alpha, scale=1.0):
    negative = np.expm1(np.minimum(x, 0)) * x.dtype.type(alpha)  # min(x, 0): no overflow above 0
    return (np.where(x > 0, x, negative) * x.dtype.type(scale)).astype(x.dtype, copy=False)


def _elu_grad(np, x, dy, alpha, scale=1.0):
    # PyTorch: x ≤ 0 → dy·scale·α·exp(x) (so α·scale at 0 itself), else dy·scale
    slope = np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0))) * scale
    return (dy * slope).astype(dy.dtype, copy=False)


activation("elu", 4, "x if x > 0 else α·(exp(x) − 1): compare, exp, subtract, multiply",
           lambda np, x, p: _elu(np, x, p["alpha"]),
           lambda np, x, y, dy, p: _elu_grad(np, x, dy, p["alpha"]),
           params=(Param("alpha", "float", 1.0, doc="α"),), base=WithParams)
activation("selu", 5, "λ·(x if x > 0 else α·(exp(x) − 1)), α ≈ 1.6733, λ ≈ 1.0507: compare, exp, subtract, "
           "two multiplies", lambda np, x, p: _elu(np, x, SELU_ALPHA, SELU_SCALE),
           lambda np, x, y, dy, p: _elu_grad(np, x, dy, SELU_ALPHA, SELU_SCALE), base=WithParams)


# ---- softplus: log(1 + exp(β·x)) / β, x itself above the threshold ----

class SoftplusBeta(WithParams):
    """softplus's check that beta can divide."""

    def configure(self, node: Node):
        if node.params["beta"] == 0:
            raise SpecError("softplus divides by beta: it must not be 0").located(node.param_loc("beta"))
        return super().configure(node)


def _softplus(np, x, p):
    z = x * x.dtype.type(p["beta"])
    # logaddexp(0, z) = log(1 + exp(z)) without overflow; PyTorch returns x where z > threshold
    return np.where(z > p["threshold"], x, np.logaddexp(0, z) / x.dtype.type(p["beta"])).astype(x.dtype, copy=False)


def _softplus_grad(np, x, y, dy, p):
    z = x * x.dtype.type(p["beta"])
    return np.where(z > p["threshold"], dy, dy * sigmoid(np, z)).astype(dy.dtype, copy=False)


activation("softplus", 3, "log(1 + exp(β·x)) / β, or x where β·x > threshold: exp, add, log",
           _softplus, _softplus_grad,
           params=(Param("beta", "float", 1.0, doc="β"), Param("threshold", "float", 20.0)), base=SoftplusBeta)


# ---- mish: x·tanh(softplus(x)) ----

def _mish(np, x):
    return (x * np.tanh(np.logaddexp(0, x))).astype(x.dtype, copy=False)


def _mish_grad(np, x, y, dy):
    # PyTorch: dy·(tanh(sp) + x·sigmoid(x)·(1 − tanh(sp)²)), sp = softplus(x)
    t = np.tanh(np.logaddexp(0, x))
    return (dy * (t + x * sigmoid(np, x) * (1 - t * t))).astype(dy.dtype, copy=False)


activation("mish", 5, "x · tanh(softplus(x)): exp, add, log, tanh, multiply", _mish, _mish_grad)


# ---- prelu: a learnable negative slope, one shared or one per channel ----

@dataclass(frozen=True)
class Slopes(Geometry):
    count: int  # 1 (shared) or C (one per channel)


SLOPES = Case(lambda n: "shared" if n.geometry.count == 1 else "per_channel", "", shared=Num(1), per_channel=C)


@register
class PReLU(Elementwise):
    name = "prelu"
    summary = "x if x > 0 else a·x, a learnable (one shared, or one per channel): compare, multiply"
    params = (Param("per_channel", "bool", False),
              Param("num_parameters", "int", None, minimum=1,
                    doc="PyTorch's PReLU(num_parameters): 1 (shared) or C (per channel), instead of per_channel"))
    flops_count = per_element(2)
    saved = (INPUT,)  # training: its input (for both gradients)
    params_count = Metric(SLOPES, lines=(lambda n: ["1 slope a, shared by every channel" if n.geometry.count == 1
                                                    else f"C = {n.geometry.count} slopes a, one per channel"],))
    probe = PASS_THROUGH

    def configure(self, node: Node) -> Slopes:
        c, per_channel, given = node.in_shape[0], node.params["per_channel"], node.params["num_parameters"]
        if given is None:
            return Slopes(c if per_channel else 1)
        if given not in (1, c):
            raise SpecError(f"prelu's num_parameters must be 1 or the input's {c} channels, got {given}"
                            ).located(node.param_loc("num_parameters"))
        if per_channel and given != c:
            raise SpecError(f"prelu with per_channel: true has {c} slopes, but num_parameters says {given}"
                            ).located(node.param_loc("num_parameters"))
        return Slopes(given)

    def weight_shapes(self, node: Node):
        return {"weight": (node.geometry.count,)}

    def random_weights(self, node: Node, rng, positive: bool = False, dtype=None) -> dict:
        # around PyTorch's initial 0.25, different per channel so that a mixed-up channel shows
        return {"weight": rng.uniform(0.05, 0.45, self.weight_shapes(node)["weight"])}

    @staticmethod
    def _slope(x, weight):
        import numpy as np

        return np.asarray(weight, dtype=x.dtype).reshape((1, -1) + (1,) * (x.ndim - 2))

    def forward(self, node, inputs, weights, ctx):
        import numpy as np

        x = inputs[0]
        return np.where(x > 0, x, x * self._slope(x, weights["weight"])), None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        import numpy as np

        # PyTorch: dx = dy where x > 0, a·dy elsewhere; da = Σ x·dy over x ≤ 0 (per channel or all)
        x, dy = inputs[0], grad_output
        dx = np.where(x > 0, dy, dy * self._slope(x, weights["weight"]))
        contribution = np.where(x > 0, 0, x * dy)
        axes = None if node.geometry.count == 1 else (0,) + tuple(range(2, x.ndim))
        da = contribution.sum(axis=axes)
        return [dx], {"weight": np.reshape(da, np.shape(weights["weight"])).astype(x.dtype, copy=False)}
