"""pixel_unshuffle (contract §7): [C, s₁, …, s_d] → [C·r^d, s₁ / r, …, s_d / r], every sᵢ divisible
by r; the inverse permutation of pixel_shuffle, in PyTorch's PixelUnshuffle order: in 2-D, offset
(i, j) of each r×r block of input channel c goes to output channel c·r² + i·r + j (in 1-D and 3-D
the same order, the first axis's offset most significant). No arithmetic.

Receptive field (§7): output o covers inputs [r·o, r·o + r − 1] along each axis (its channels
together): a window of size r and stride r, so the classic arithmetic applies (size += (r − 1)·jump,
jump ·= r)."""

from __future__ import annotations

from dataclasses import dataclass

from netcalc import window
from netcalc.errors import SpecError
from netcalc.formula import Metric, ZERO
from netcalc.layers.base import Node, Windowed, axis_names, register
from netcalc.layers.pixel_shuffle import shuffle, unshuffle
from netcalc.params import Param


@dataclass(frozen=True, kw_only=True)
class Unshuffle(window.Window):
    """An r-wide, stride-r window per axis (shape and field from window.py) and the channels."""

    factor: int  # r
    channels: int  # C·r^d


@register
class PixelUnshuffle(Windowed):
    name = "pixel_unshuffle"
    summary = "moves r×…×r spatial blocks into r^d times as many channels (PyTorch's PixelUnshuffle)"
    params = (Param("factor", "int", aliases=("downscale_factor",), minimum=1, doc="r"),)
    flops_count = Metric(ZERO, zero="0 (a permutation of the elements: no arithmetic)")

    def configure(self, node: Node) -> Unshuffle:
        r, d = node.params["factor"], len(node.spatial_in)
        for axis, n in zip(axis_names(d), node.spatial_in):
            if n % r:
                raise SpecError(f"pixel_unshuffle by {r} needs every spatial size divisible by {r}; "
                                f"{axis} is {n}").located(node.param_loc("factor"))
        return Unshuffle.resolve(node.spatial_in, (r,) * d, (r,) * d, (1,) * d, ((0, 0),) * d, self.name,
                                 factor=r, channels=node.in_shape[0] * r ** d)

    def out_channels(self, node: Node) -> int:
        return node.geometry.channels

    def explain_output(self, node: Node) -> list[str]:
        r, d = node.geometry.factor, len(node.spatial_in)
        return ([f"C = C_in·r^d = {node.in_shape[0]}·{r}^{d} = {node.geometry.channels}"]
                + [f"{axis}: n / r = {n} / {r} = {o}"
                   for axis, n, o in zip(axis_names(d), node.spatial_in, node.spatial_out)])

    # ---- executor: pixel_shuffle's permutations, the other way round ----
    def forward(self, node, inputs, weights, ctx):
        return unshuffle(inputs[0], node.geometry.factor), None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        return [shuffle(grad_output, node.geometry.factor)], {}
