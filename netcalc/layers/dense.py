"""Fully connected layers and flattening."""

from __future__ import annotations

from math import prod

from netcalc.errors import SpecError
from netcalc.layers.base import LayerType, Node, dot, register
from netcalc.params import Param


@register
class Linear(LayerType):
    name = "linear"
    aliases = ("fc", "dense")
    summary = "fully connected layer on a flat vector [F]"
    params = (Param("out", "int", aliases=("out_features",), minimum=1), Param("bias", "bool", True))
    needs_flat = True
    params_rule = "in·out (+ out bias: one per output, not one per layer)"
    macs_rule = "in · out"
    flops_rule = "(2·in − 1)·out without bias, 2·in·out with bias"

    def output_shape(self, node: Node):
        return (node.params["out"],)

    def count_params(self, node: Node) -> int:
        return node.in_shape[0] * node.params["out"] + (node.params["bias"] and node.params["out"])

    def count_macs(self, node: Node) -> int:
        return node.in_shape[0] * node.params["out"]

    def count_flops(self, node: Node) -> int:
        # per output: in multiplies, in − 1 adds, + 1 bias add
        return (2 * node.in_shape[0] - 1 + node.params["bias"]) * node.params["out"]

    def explain(self, node: Node) -> dict[str, list[str]]:
        i, o, bias = node.in_shape[0], node.params["out"], node.params["bias"]
        return {
            "output": [f"[out] = [{o}]"],
            "params": [f"in·out{' + out' if bias else ''} = {i}·{o}{f' + {o}' if bias else ''} = {self.count_params(node)}"],
            "macs": [f"in·out = {i}·{o} = {self.count_macs(node)}"],
            "flops": [f"per output: {i} multiplies + {i - 1} adds{' + 1 bias add' if bias else ''}; "
                      f"(2·in − 1{' + 1' if bias else ''})·out = (2·{i} − 1{' + 1' if bias else ''})·{o}"
                      f" = {self.count_flops(node)}"],
        }

    def weight_shapes(self, node: Node):
        shapes = {"weight": (node.params["out"], node.in_shape[0])}
        if node.params["bias"]:
            shapes["bias"] = (node.params["out"],)
        return shapes

    def forward(self, node, inputs, weights, ctx):
        from netcalc import kernels

        return kernels.linear_forward(inputs[0], weights["weight"], weights.get("bias")), None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        from netcalc import kernels

        dx, dw, db = kernels.linear_backward(grad_output, inputs[0], weights["weight"], "bias" in weights)
        grads = {"weight": dw}
        if db is not None:
            grads["bias"] = db
        return [dx], grads


@register
class Flatten(LayerType):
    name = "flatten"
    summary = "[C, …] → [C·…]"

    def output_shape(self, node: Node):
        return (prod(node.in_shape),)

    def explain(self, node: Node) -> dict[str, list[str]]:
        out = super().explain(node)
        out["output"] = [f"{dot(node.in_shape)} = {prod(node.in_shape)} → [{prod(node.in_shape)}]"]
        return out

    def forward(self, node, inputs, weights, ctx):
        from netcalc import kernels

        return kernels.flatten_forward(inputs[0]), None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        from netcalc import kernels

        return [kernels.flatten_backward(grad_output, inputs[0].shape)], {}
