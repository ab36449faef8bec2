"""Normalisation by statistics of the sample itself (contract §7): layernorm, groupnorm and
instancenorm, with PyTorch's semantics (biased variance, eps inside the square root, a
per-channel affine map after the normalisation).

* layernorm normalises the C values at each position (ConvNeXt's LayerNorm2d, i.e. PyTorch's
  LayerNorm(C) applied channels-last); on a flat [F] input, the F values.
* groupnorm normalises each group of C/groups channels over all positions (PyTorch's GroupNorm).
* instancenorm is groupnorm with groups = C (PyTorch's InstanceNorm1d/2d/3d without running
  statistics), affine off by default.

Every value of one normalisation group is read by every output of that group, but (contract §7)
the statistics are treated as constants for receptive fields: the field is pointwise, and
`verify --rf` probes these types with their statistics frozen (FROZEN_STATISTICS: y = x·w + b),
so that every input gets a positive gradient and nothing cancels.
"""

from __future__ import annotations

from dataclasses import dataclass

from netcalc.errors import SpecError
from netcalc.formula import C, ELEMENTS, Case, Dims, Let, Metric, Num, Opt, Ratio, Sym, Tagged, flag
from netcalc.layers.base import Geometry, LayerType, Node, pointwise_support, register
from netcalc.params import Param
from netcalc.saved import INPUT, Stats

EPS = Param("eps", "float", 1e-5, minimum=0, doc="added to the variance inside the square root")
AFFINE = flag("affine")
POSITIONS = Dims("positions", lambda n: n.in_shape[1:])
SPATIAL = Dims("Πs", lambda n: n.in_shape[1:])


# ---- the shared mathematics (NumPy imported by the caller) ----

def per_channel_layouts(got: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    """A per-channel [C] vector may also come as [C, 1, …] (torchvision's layer_scale is [C, 1, 1])."""
    return len(shape) == 1 and len(got) > 1 and got[0] == shape[0] and all(n == 1 for n in got[1:])


def channel_view(values, ndim: int):
    """A per-channel vector [C] shaped to broadcast over (N, C, *spatial)."""
    return values.reshape((1, -1) + (1,) * (ndim - 2))


def per_channel_random(shapes: dict, rng, positive: bool) -> dict:
    """Seeded values for a per-channel weight and bias: PyTorch starts at 1 and 0, random values
    around them exercise the map (the rf probe: weight in [0.5, 1.5], bias 0)."""
    import numpy as np

    values = {"weight": rng.uniform(0.5, 1.5, shapes["weight"])} if "weight" in shapes else {}
    if "bias" in shapes:
        values["bias"] = np.zeros(shapes["bias"]) if positive else rng.normal(0.0, 0.1, shapes["bias"])
    return values


def per_channel_affine(x, weights: dict):
    """x·weight + bias per channel, as a new array (either may be absent)."""
    y = x * channel_view(weights["weight"], x.ndim) if "weight" in weights else x.copy()
    if "bias" in weights:
        y += channel_view(weights["bias"], x.ndim)
    return y


def times_weight(dy, weights: dict):
    """The gradient through the affine map to its input: dy·weight per channel."""
    return dy * channel_view(weights["weight"], dy.ndim) if "weight" in weights else dy.copy()


def normalise(np, a, axis: int, eps: float):
    """(x̂, 1/σ) of `a` over `axis`: x̂ = (a − mean) / sqrt(var + eps), biased variance."""
    mean = a.mean(axis=axis, keepdims=True)
    centred = a - mean
    inv_std = 1.0 / np.sqrt((centred * centred).mean(axis=axis, keepdims=True) + a.dtype.type(eps))
    return centred * inv_std, inv_std


def normalise_backward(dxhat, xhat, inv_std, axis: int):
    """dx of x̂ = normalise(x) over `axis` given dL/dx̂: (dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) / σ."""
    return inv_std * (dxhat - dxhat.mean(axis=axis, keepdims=True)
                      - xhat * (dxhat * xhat).mean(axis=axis, keepdims=True))


class FrozenStatistics:
    """The probe stand-in of every normalisation: statistics frozen at mean 0 and variance 1, so
    the layer is the pointwise affine map y = x·w + b (contract §7: the statistics are constants
    for receptive fields). Positive weights keep a positive input positive."""

    def forward(self, node, inputs, weights, ctx):
        return per_channel_affine(inputs[0], weights), None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        return [times_weight(grad_output, weights)], {}


FROZEN_STATISTICS = FrozenStatistics()


class Normalisation(LayerType):
    """What the three share: a per-channel affine map (weight, bias of shape [C]) after
    normalising groups of values; subclasses say how the input is grouped (`grouped`)."""

    probe = FROZEN_STATISTICS
    family = "norm"
    support = pointwise_support

    def accepts_weight_shape(self, key, got, shape) -> bool:
        return per_channel_layouts(got, shape)

    def has_weight(self, node: Node) -> bool:
        return node.params["affine"]

    def has_bias(self, node: Node) -> bool:
        return node.params["affine"]

    def weight_shapes(self, node: Node):
        c = (node.in_shape[0],)
        shapes = {"weight": c} if self.has_weight(node) else {}
        if self.has_bias(node):
            shapes["bias"] = c
        return shapes

    def random_weights(self, node: Node, rng, positive: bool = False, dtype=None) -> dict:
        return per_channel_random(self.weight_shapes(node), rng, positive)

    def grouped(self, node: Node, x):
        """(view of x, axis): the normalisation runs over `axis` of the view."""
        raise NotImplementedError

    def forward(self, node, inputs, weights, ctx):
        import numpy as np

        x = inputs[0]
        view, axis = self.grouped(node, x)
        xhat, inv_std = normalise(np, view, axis, node.params["eps"])
        xhat = xhat.reshape(x.shape)
        return per_channel_affine(xhat, weights), ((xhat, inv_std) if ctx.caches else None)

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        import numpy as np

        x, dy = inputs[0], grad_output
        view, axis = self.grouped(node, x)
        if cache is None:
            xhat, inv_std = normalise(np, view, axis, node.params["eps"])
            xhat = xhat.reshape(x.shape)
        else:
            xhat, inv_std = cache
        dxhat_view, _ = self.grouped(node, times_weight(dy, weights))
        xhat_view, _ = self.grouped(node, xhat)
        dx = normalise_backward(dxhat_view, xhat_view, inv_std, axis).reshape(x.shape)
        grads = {}
        if ctx.weight_grads:
            not_channel = (0, *range(2, x.ndim))
            if "weight" in weights:
                grads["weight"] = (dy * xhat).sum(axis=not_channel)
            if "bias" in weights:
                grads["bias"] = dy.sum(axis=not_channel)
        return [dx], grads


# ---- layernorm ----



def has_ln_bias(node) -> bool:
    """layernorm's bias exists only with the affine map (PyTorch: bias=True is ignored otherwise)."""
    return node.params["affine"] and node.params["bias"]


# per position over its C values: mean C − 1 adds + 1 divide; C subtracts; variance C multiplies
# + C − 1 adds + 1 divide; + eps, sqrt; C divides — then C multiplies (affine), C adds (bias)
LN_PER_POSITION = Let("f", 5 * C + 2 + Opt(AFFINE, C, "with affine") + Opt(has_ln_bias, C, "with bias"))
LN_GLOSS = (Tagged(C - 1, "adds") + Tagged(1, "divide") + Tagged(C, "subtracts") + Tagged(C, "multiplies")
            + Tagged(C - 1, "adds") + Tagged(1, "divide") + Tagged(1, "add (eps)") + Tagged(1, "sqrt")
            + Tagged(C, "divides") + Opt(AFFINE, Tagged(C, "multiplies (weight)"))
            + Opt(has_ln_bias, Tagged(C, "adds (bias)")))


def _affine_params_lines(node) -> list[str]:
    value = node.kind.count_params(node)
    if not value:
        return ["0 (affine false: nothing learnable)"]
    parts = ["weight C"] + (["bias C"] if node.kind.has_bias(node) else [])
    return [f"{' + '.join(parts)} = {' + '.join([str(node.in_shape[0])] * len(parts))} = {value}"]


@register
class LayerNorm(Normalisation):
    name = "layernorm"
    summary = "layer normalisation over the channels at each position (over F on a flat [F] input)"
    saved = (INPUT, Stats(2, "position"))  # training: input, mean and 1/std per sample and position
    params = (EPS, Param("affine", "bool", True, aliases=("elementwise_affine",)),
              Param("bias", "bool", True, doc="learnable shift (with affine)"))
    params_count = Metric(Case(lambda n: ("affine, bias" if has_ln_bias(n) else "affine, no bias"
                                          if n.params["affine"] else "no affine"),
                               **{"affine, bias": 2 * C, "affine, no bias": C, "no affine": Num(0)}),
                          lines=(_affine_params_lines,))
    flops_count = Metric(POSITIONS * LN_PER_POSITION, f=LN_PER_POSITION, gloss=LN_GLOSS, positions=POSITIONS,
                         lines=("per position, over its C = {c} values: {gloss.worked}",
                                "f = {f.rule} = {f.worked} = {f}",
                                "× positions {positions.worked} = {positions} → {worked} = {value}"), c=C)

    def has_bias(self, node: Node) -> bool:
        return node.params["affine"] and node.params["bias"]

    def grouped(self, node: Node, x):
        return x, 1  # the channels (the features of a flat input) at each position


# ---- groupnorm and instancenorm ----

@dataclass(frozen=True)
class GroupGeometry(Geometry):
    groups: int


GROUPS = Sym("groups", lambda n: n.geometry.groups)
GROUP_SIZE = Let("m", Ratio(C, GROUPS) * SPATIAL)
# per group of m values: 5m + 2 (as layernorm's 5C + 2 with m values); + 2 per element (affine)
GN_PER_GROUP = Let("f", 5 * GROUP_SIZE + 2)
GN_FLOPS = GROUPS * GN_PER_GROUP + Opt(AFFINE, 2 * ELEMENTS, "with affine")
GN_LINES = ("m = {m.rule} = {m.worked} = {m} values per group",
            "per group: mean, variance, eps, sqrt, m divides: f = {f.rule} = {f.worked} = {f}",
            "{rule} = {worked} = {value}")


@register
class GroupNorm(Normalisation):
    name = "groupnorm"
    summary = "group normalisation: each group of C/groups channels over all positions (PyTorch's GroupNorm)"
    saved = (INPUT, Stats(2, "group"))  # training: input, mean and 1/std per sample and group
    params = (Param("groups", "int", aliases=("num_groups",), minimum=1, doc="divides the channels"),
              EPS, Param("affine", "bool", True))
    params_count = Metric(Case(lambda n: "affine" if n.params["affine"] else "no affine",
                               **{"affine": 2 * C, "no affine": Num(0)}), lines=(_affine_params_lines,))
    flops_count = Metric(GN_FLOPS, lines=GN_LINES, m=GROUP_SIZE, f=GN_PER_GROUP)

    def configure(self, node: Node) -> GroupGeometry:
        groups, channels = node.params["groups"], node.in_shape[0]
        if channels % groups:
            raise SpecError(f"groups={groups} does not divide the {channels} input channels"
                            ).located(node.param_loc("groups"))
        return GroupGeometry(groups)

    def grouped(self, node: Node, x):
        return x.reshape(x.shape[0], node.geometry.groups, -1), 2


@register
class InstanceNorm(GroupNorm):
    name = "instancenorm"
    summary = "instance normalisation: each channel over its positions (groupnorm with groups = C)"
    needs_spatial = True
    params = (EPS, Param("affine", "bool", False))
    flops_count = Metric(GN_FLOPS, lines=GN_LINES, m=GROUP_SIZE, f=GN_PER_GROUP, note="(groupnorm with groups = C)")
    # training: PyTorch runs batch norm on [1, N·C, …]: the input, mean and 1/std per sample and
    # channel, and with affine the weight repeated per sample
    saved_rule = "its input, 2 float32 statistics per sample and channel (3 with affine: the weight repeated)"

    def saved_for_backward(self, node: Node):
        return (INPUT, Stats(3 if node.params["affine"] else 2, "sample_channel"))

    def configure(self, node: Node) -> GroupGeometry:
        return GroupGeometry(node.in_shape[0])
