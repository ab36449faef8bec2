"""Layers that join branches: add, mul (with squeeze-excitation broadcasting) and concat."""

from __future__ import annotations

from math import prod

from netcalc.errors import SpecError
from netcalc.layers.base import LayerType, Node, dot, register


def _shapes(node: Node) -> str:
    return ", ".join(f"{name} {list(shape)}" for name, shape in zip(node.inputs, node.in_shapes))


class Merge(LayerType):
    min_inputs = 2
    max_inputs = None
    broadcasts = False

    def output_shape(self, node: Node):
        first = node.in_shapes[0]
        if any(len(s) != len(first) for s in node.in_shapes):
            raise SpecError(f"{self.name} needs inputs with the same number of dims; got {_shapes(node)}")
        out = []
        for sizes in zip(*node.in_shapes):
            size = max(sizes)
            if any(s != size and not (self.broadcasts and s == 1) for s in sizes):
                rule = "equal or 1 (broadcast)" if self.broadcasts else "equal"
                raise SpecError(f"{self.name} needs input shapes that are {rule}; got {_shapes(node)}")
            out.append(size)
        return tuple(out)

    def count_flops(self, node: Node) -> int:
        # (inputs − 1) per output element
        return (len(node.inputs) - 1) * prod(node.out_shape)

    @property
    def flops_rule(self) -> str:
        return "(inputs − 1) per output element"

    def explain(self, node: Node) -> dict[str, list[str]]:
        out = super().explain(node)
        out["output"] = [f"inputs {_shapes(node)} → {list(node.out_shape)}"]
        if self.count_flops(node):
            out["flops"] = [f"(inputs − 1) per output element = ({len(node.inputs)} − 1)·{dot(node.out_shape)}"
                            f" = {self.count_flops(node)}"]
        return out

    # ---- executor: kernels.<name>_forward / <name>_backward on the list of inputs ----
    def forward(self, node, inputs, weights, ctx):
        from netcalc import kernels

        return getattr(kernels, f"{self.name}_forward")(inputs), None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        from netcalc import kernels

        return getattr(kernels, f"{self.name}_backward")(grad_output, inputs), {}

    def receptive_field(self, node: Node, in_fields):
        from netcalc import rf

        if len(node.out_shape) < 2 or any(f is None for f in in_fields):
            return None
        merged = []
        for axis, n_out in enumerate(node.spatial_out):
            aligned, broadcast = [], []
            for shape, fields in zip(node.in_shapes, in_fields):
                (broadcast if shape[1 + axis] == 1 and n_out > 1 else aligned).append(fields[axis])
            merged.append(rf.union(aligned, broadcast))
        return merged


@register
class Add(Merge):
    name = "add"
    summary = "element-wise sum of 2+ inputs of equal shape (residual connections)"


@register
class Mul(Merge):
    name = "mul"
    summary = "element-wise product of 2+ inputs; [C, 1, 1] broadcasts over [C, H, W] (squeeze-excitation)"
    broadcasts = True


@register
class Concat(Merge):
    name = "concat"
    summary = "joins 2+ inputs on channels (Inception, U-Net skips)"
    flops_rule = "0"

    def output_shape(self, node: Node):
        first = node.in_shapes[0]
        if any(len(s) != len(first) or s[1:] != first[1:] for s in node.in_shapes):
            raise SpecError(f"concat needs inputs with equal spatial sizes; got {_shapes(node)}")
        return (sum(s[0] for s in node.in_shapes), *first[1:])

    def count_flops(self, node: Node) -> int:
        return 0
