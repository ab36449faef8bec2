"""channel_shuffle (contract §7): the input's channels reordered, as PyTorch's ChannelShuffle (and
ShuffleNet's channel_shuffle): the C channels, seen as `groups` rows of C/groups, are read column
by column, so output channel i·groups + k is input channel k·(C/groups) + i. `groups` must divide
C. A permutation: no arithmetic, no params, and a pointwise receptive field (a position's field is
the union over its channels, which a reordering keeps)."""

from __future__ import annotations

from dataclasses import dataclass

from netcalc.errors import SpecError
from netcalc.formula import Metric, ZERO
from netcalc.layers.base import Geometry, LayerType, Node, register
from netcalc.params import Param


@dataclass(frozen=True)
class ChannelGroups(Geometry):
    groups: int  # g
    per_group: int  # C / g


def _swap(a, first: int, second: int):
    """Channels as (first, second) → (second, first), read back as one channel axis. Always a new
    array: with one group (or one channel per group) the reshape would be a view of the input,
    which the executor may later overwrite in place."""
    if first == 1 or second == 1:
        return a.copy()
    n, rest = a.shape[0], a.shape[2:]
    return a.reshape((n, first, second) + rest).swapaxes(1, 2).reshape(a.shape)


@register
class ChannelShuffle(LayerType):
    name = "channel_shuffle"
    summary = "reorders the channels across groups (PyTorch's ChannelShuffle, ShuffleNet)"
    params = (Param("groups", "int", minimum=1, doc="g (divides C)"),)
    flops_count = Metric(ZERO, zero="0 (a permutation of the channels: no arithmetic)")
    saved = ()  # a permuted copy: its backward needs only sizes

    def configure(self, node: Node) -> ChannelGroups:
        g, c = node.params["groups"], node.in_shape[0]
        if c % g:
            raise SpecError(f"groups={g} does not divide the {c} input channels").located(node.param_loc("groups"))
        return ChannelGroups(g, c // g)

    def explain_output(self, node: Node) -> list[str]:
        g = node.geometry
        return [f"same as the input: {list(node.out_shape)}",
                f"channels as {g.groups} groups × {g.per_group}, transposed: output channel i·{g.groups} + k "
                f"is input channel k·{g.per_group} + i"]

    # ---- executor: a reshape and a transpose; backward the inverse one ----
    def forward(self, node, inputs, weights, ctx):
        return _swap(inputs[0], node.geometry.groups, node.geometry.per_group), None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        return [_swap(grad_output, node.geometry.per_group, node.geometry.groups)], {}

    def support(self, node, dy, ctx):
        # a permutation of the channels: one channel standing for all of them stays so; else the
        # backward's inverse permutation, which reads nothing but dy
        return [dy] if dy.shape[1] == 1 else self.backward(node, None, None, dy, {}, None, ctx)[0]
