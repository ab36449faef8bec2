"""Layers that act on each position independently: activations, batchnorm, dropout, lrn,
softmax over channels, identity. Their receptive field is their input's."""

from __future__ import annotations

from math import prod

from netcalc.layers.base import LayerType, Node, dot, register
from netcalc.params import Param


class Elementwise(LayerType):
    flops_per_element = 0

    @property
    def flops_rule(self) -> str:
        return f"{self.flops_per_element} per element"

    def count_flops(self, node: Node) -> int:
        return self.flops_per_element * prod(node.out_shape)

    def explain(self, node: Node) -> dict[str, list[str]]:
        out = super().explain(node)
        out["flops"] = [f"{self.flops_rule} × elements {dot(node.out_shape)} = {self.count_flops(node)}"]
        return out

    # ---- executor: kernels.activation_* under the type's name ----
    def _activation(self, ctx) -> str:
        # Probe mode (verify --rf): an activation is pointwise, so it cannot change a receptive
        # field, but saturation (relu6 above 6, tanh far out) could zero a gradient; pass through.
        return "identity" if ctx.probe else self.name

    def forward(self, node, inputs, weights, ctx):
        from netcalc import kernels

        name = self._activation(ctx)
        # inference: max(x, 0) in place, when the executor says nobody reads x again and x owns
        # its memory (a flatten's output is a view of an array that may still be live)
        if name == "relu" and ctx.overwrite_input and inputs[0].base is None:
            import numpy as np

            return np.maximum(inputs[0], 0, out=inputs[0]), None
        return kernels.activation_forward(name, inputs[0]), None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        from netcalc import kernels

        return [kernels.activation_backward(self._activation(ctx), inputs[0], output, grad_output)], {}


def elementwise(name: str, flops_per_element: int, summary: str, params=(), cls=Elementwise):
    """Register an element-wise layer type with a per-element FLOP cost."""
    return register(type(name.title().replace("_", ""), (cls,), {
        "name": name, "flops_per_element": flops_per_element, "summary": summary, "params": params}))


# contract §4: FLOPs per element
elementwise("relu", 1, "max(x, 0): one compare")
elementwise("relu6", 2, "min(max(x, 0), 6): two compares")
elementwise("leaky_relu", 2, "x if x > 0 else 0.01·x: compare, multiply")
elementwise("sigmoid", 4, "1 / (1 + exp(−x))")
elementwise("tanh", 5, "tanh(x)")
elementwise("silu", 5, "x · sigmoid(x)")
elementwise("gelu", 5, "x · Φ(x), exact (erf)")
elementwise("hardswish", 5, "x · relu6(x + 3) / 6")
elementwise("identity", 0, "passes its input through")
elementwise("dropout", 0, "identity at inference",
            params=(Param("p", "float", 0.5, minimum=0),))


@register
class BatchNorm(Elementwise):
    name = "batchnorm"
    summary = "batch normalisation, inference form x·a + b per channel"
    params = (Param("eps", "float", 1e-5, minimum=0), Param("momentum", "float", 0.1, minimum=0))
    flops_per_element = 2
    params_rule = "2C (scale, shift); buffers 2C (running mean, variance)"

    def count_params(self, node: Node) -> int:
        return 2 * node.in_shape[0]

    def count_buffers(self, node: Node) -> int:
        return 2 * node.in_shape[0]

    def explain(self, node: Node) -> dict[str, list[str]]:
        out = super().explain(node)
        c = node.in_shape[0]
        out["params"] = [f"2C = 2·{c} = {2 * c} (scale, shift); buffers 2C = {2 * c} (running mean, variance)"]
        return out

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
        from netcalc import kernels

        return kernels.batchnorm_forward(inputs[0], weights["weight"], weights["bias"], weights["running_mean"],
                                         weights["running_var"], node.params["eps"]), None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        from netcalc import kernels

        dx, dw, db = kernels.batchnorm_backward(grad_output, inputs[0], weights["weight"],
                                                weights["running_mean"], weights["running_var"],
                                                node.params["eps"])
        return [dx], {"weight": dw, "bias": db}


@register
class LRN(Elementwise):
    name = "lrn"
    summary = "local response normalisation across channels (PyTorch's LocalResponseNorm)"
    params = (Param("size", "int", minimum=1), Param("alpha", "float", 1e-4, minimum=0),
              Param("beta", "float", 0.75, minimum=0), Param("k", "float", 1.0, minimum=0))
    flops_rule = "2·size + 3 per element"

    def count_flops(self, node: Node) -> int:
        return (2 * node.params["size"] + 3) * prod(node.out_shape)

    def explain(self, node: Node) -> dict[str, list[str]]:
        out = super().explain(node)
        size = node.params["size"]
        out["flops"] = [f"(2·size + 3) per element = (2·{size} + 3)·{dot(node.out_shape)} = {self.count_flops(node)}"]
        return out

    def _args(self, node: Node):
        p = node.params
        return p["size"], p["alpha"], p["beta"], p["k"]

    def forward(self, node, inputs, weights, ctx):
        from netcalc import kernels

        return kernels.lrn_forward(inputs[0], *self._args(node)), None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        from netcalc import kernels

        return [kernels.lrn_backward(grad_output, inputs[0], *self._args(node))], {}


@register
class Softmax(LayerType):
    name = "softmax"
    summary = "softmax over channels (over the features of a flat vector)"
    flops_rule = "3C − 1 per position (C exps, C − 1 adds, C divides)"

    def count_flops(self, node: Node) -> int:
        channels = node.in_shape[0]
        return (3 * channels - 1) * prod(node.in_shape[1:])

    def explain(self, node: Node) -> dict[str, list[str]]:
        out = super().explain(node)
        c = node.in_shape[0]
        out["flops"] = [f"(3C − 1) per position = (3·{c} − 1)·{dot(node.in_shape[1:])} = {self.count_flops(node)}"]
        return out

    def forward(self, node, inputs, weights, ctx):
        from netcalc import kernels

        if ctx.probe:  # softmax over one channel has a zero gradient; probe as identity
            return kernels.activation_forward("identity", inputs[0]), None
        return kernels.activation_forward("softmax", inputs[0]), None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        from netcalc import kernels

        name = "identity" if ctx.probe else "softmax"
        return [kernels.activation_backward(name, inputs[0], output, grad_output)], {}
