"""Layers that join branches: add, mul (with squeeze-excitation broadcasting) and concat."""

from __future__ import annotations

from netcalc import rf
from netcalc.errors import SpecError
from netcalc.formula import ELEMENTS, NO_FLOPS, Metric, Sym
from netcalc.layers.base import LayerType, Node, register
from netcalc.saved import OTHER_INPUTS


def _shapes(node: Node) -> str:
    return ", ".join(f"{name} {list(shape)}" for name, shape in zip(node.inputs, node.in_shapes))


class Merge(LayerType):
    min_inputs = 2
    max_inputs = None
    broadcasts = False
    saved = ()  # add and concat: their backward needs only sizes
    # add, mul: on the probe's positive values d(a·b)/da = b > 0 reaches where d(a + b)/da does
    channel_blind = True

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

    # (inputs − 1) per output element
    flops_count = Metric((Sym("inputs", lambda n: len(n.inputs)) - 1) * ELEMENTS)

    def explain_output(self, node: Node) -> list[str]:
        return [f"inputs {_shapes(node)} → {list(node.out_shape)}"]

    # ---- executor: `combine` (forward) and `split` (backward) on the list of inputs ----
    def forward(self, node, inputs, weights, ctx):
        return self.combine(inputs), None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        return self.split(grad_output, inputs), {}

    def receptive_field(self, node: Node, in_fields):
        if len(node.out_shape) < 2 or any(f is None for f in in_fields):
            return None
        per_axis = []
        for axis, n_out in enumerate(node.spatial_out):
            aligned, broadcast = [], []
            for shape, fields in zip(node.in_shapes, in_fields):
                (broadcast if shape[1 + axis] == 1 and n_out > 1 else aligned).append(fields[axis])
            per_axis.append((aligned, broadcast))
        return rf.per_axis(rf.union, per_axis)


def unbroadcast(grad, shape):
    """Sum ``grad`` back down to ``shape`` (undo NumPy broadcasting)."""
    shape = tuple(shape)
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, (g, s) in enumerate(zip(grad.shape, shape)) if s == 1 and g != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


@register
class Add(Merge):
    name = "add"
    summary = "element-wise sum of 2+ inputs of equal shape (residual connections)"

    @staticmethod
    def combine(xs):
        """Element-wise sum with broadcasting."""
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out

    @staticmethod
    def split(dy, xs):
        return [unbroadcast(dy, x.shape) for x in xs]


@register
class Mul(Merge):
    name = "mul"
    summary = "element-wise product of 2+ inputs; [C, 1, 1] broadcasts over [C, H, W] (squeeze-excitation)"
    broadcasts = True
    saved = (OTHER_INPUTS,)  # each factor's gradient needs the others

    @staticmethod
    def combine(xs):
        """Element-wise product with broadcasting ([N,C,1,1] x [N,C,H,W] for SE blocks)."""
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out

    @staticmethod
    def split(dy, xs):
        grads = []
        for i, x in enumerate(xs):
            # product of the other factors (no division, so zeros are safe)
            others = dy
            for j, other in enumerate(xs):
                if j != i:
                    others = others * other
            grads.append(unbroadcast(others, x.shape))
        return grads


@register
class Concat(Merge):
    name = "concat"
    summary = "joins 2+ inputs on channels (Inception, U-Net skips)"
    flops_count = NO_FLOPS

    @staticmethod
    def combine(xs):
        """Concatenate along the channel axis 1."""
        import numpy as np

        return np.concatenate(xs, axis=1)

    @staticmethod
    def split(dy, xs):
        import numpy as np

        splits = np.cumsum([x.shape[1] for x in xs])[:-1]
        return [np.ascontiguousarray(part) for part in np.split(dy, splits, axis=1)]

    def output_shape(self, node: Node):
        first = node.in_shapes[0]
        if any(len(s) != len(first) or s[1:] != first[1:] for s in node.in_shapes):
            raise SpecError(f"concat needs inputs with equal spatial sizes; got {_shapes(node)}")
        return (sum(s[0] for s in node.in_shapes), *first[1:])

    def support(self, node, dy, ctx):
        # one channel standing for all: every input gets it; else each its own channels
        if dy.shape[1] == 1:
            return [dy] * len(node.inputs)
        return self.split(dy, [dy[:, :shape[0]] for shape in node.in_shapes])
