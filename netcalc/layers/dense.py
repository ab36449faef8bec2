"""Fully connected layers and flattening."""

from __future__ import annotations

from math import prod

from netcalc.formula import Metric, Opt, Sym, Tagged, flag
from netcalc.layers.base import LayerType, Node, dot, register, weight_grads
from netcalc.params import Param
from netcalc.saved import INPUT, VIEW

IN = Sym("in", lambda n: n.in_shape[0])
OUT = Sym("out", lambda n: n.params["out"])
HAS_BIAS = flag("bias")


def linear_forward(x, w, b):
    """y = x . w^T + b with w of shape (out, in), x of shape (N, in)."""
    import numpy as np

    y = x @ np.asarray(w, dtype=x.dtype).T
    if b is not None:
        y += np.asarray(b, dtype=x.dtype)
    return y


def linear_backward(dy, x, w, has_bias):
    """(dx, dw, db|None) of :func:`linear_forward`."""
    import numpy as np

    w = np.asarray(w, dtype=x.dtype)
    dx = dy @ w
    dw = dy.reshape(-1, dy.shape[-1]).T @ x.reshape(-1, x.shape[-1])
    db = dy.reshape(-1, dy.shape[-1]).sum(axis=0) if has_bias else None
    return dx, dw, db


@register
class Linear(LayerType):
    name = "linear"
    aliases = ("fc", "dense")
    summary = "fully connected layer on a flat vector [F]"
    params = (Param("out", "int", aliases=("out_features",), minimum=1), Param("bias", "bool", True))
    needs_flat = True
    saved = (INPUT,)  # training: its input, for the weight gradient
    # one bias per output, not one per layer
    params_count = Metric(IN * OUT + Opt(HAS_BIAS, OUT, "bias"))
    macs_count = Metric(IN * OUT)
    # per output: in multiplies, in − 1 adds, + 1 bias add
    flops_count = Metric((2 * IN - 1 + Opt(HAS_BIAS, 1, "with bias")) * OUT,
                         lines=("per output: {gloss.worked}; {rule} = {worked} = {value}",),
                         gloss=Tagged(IN, "multiplies") + Tagged(IN - 1, "adds") + Opt(HAS_BIAS, Tagged(1, "bias add")))

    def output_shape(self, node: Node):
        return (node.params["out"],)

    def explain_output(self, node: Node) -> list[str]:
        return [f"[out] = [{node.params['out']}]"]

    def weight_shapes(self, node: Node):
        shapes = {"weight": (node.params["out"], node.in_shape[0])}
        if node.params["bias"]:
            shapes["bias"] = (node.params["out"],)
        return shapes

    def forward(self, node, inputs, weights, ctx):
        return linear_forward(inputs[0], weights["weight"], weights.get("bias")), None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        dx, dw, db = linear_backward(grad_output, inputs[0], weights["weight"], "bias" in weights)
        return [dx], weight_grads(dw, db)


@register
class Flatten(LayerType):
    name = "flatten"
    summary = "[C, …] → [C·…]"
    saved = (VIEW,)  # a view: a layer keeping its output keeps the tensor before it

    def output_shape(self, node: Node):
        return (prod(node.in_shape),)

    def explain_output(self, node: Node) -> list[str]:
        return [f"{dot(node.in_shape)} = {prod(node.in_shape)} → [{prod(node.in_shape)}]"]

    def forward(self, node, inputs, weights, ctx):
        return inputs[0].reshape(inputs[0].shape[0], -1), None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        return [grad_output.reshape(inputs[0].shape)], {}
