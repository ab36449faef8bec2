"""slice (contract §7): channels [start, end) of the input — ShuffleNetV2's channel split
(`x.chunk(2, dim=1)` is two slices), or any `x[:, start:end]`. Negative `start`/`end` count from
the end, as in Python; unlike Python, a bound outside −C … C is an error rather than silently
clamped, and the slice is never empty. On a flat [F] input it takes features [start, end).
A copy: no arithmetic, no params, a pointwise receptive field."""

from __future__ import annotations

from dataclasses import dataclass

from netcalc.errors import SpecError
from netcalc.formula import Metric, ZERO
from netcalc.layers.base import Geometry, LayerType, Node, register
from netcalc.params import Param
from netcalc.saved import VIEW


@dataclass(frozen=True)
class ChannelRange(Geometry):
    start: int  # resolved: 0 ≤ start < end ≤ C
    end: int


@register
class Slice(LayerType):
    name = "slice"
    summary = "channels [start, end) of the input (negative counts from the end, as in Python)"
    params = (Param("start", "int", 0, doc="first channel kept (negative: from the end)"),
              Param("end", "int", None, default_text="C", doc="one past the last channel kept (negative: from the end)"))
    flops_count = Metric(ZERO, zero="0 (a copy: no arithmetic)")
    saved = (VIEW,)  # in PyTorch a channel slice (x[:, a:b], chunk) is a view of its input

    def configure(self, node: Node) -> ChannelRange:
        c = node.in_shape[0]
        bounds = {}
        for key, given in (("start", node.params["start"]), ("end", node.params["end"])):
            value = c if given is None else given
            if not -c <= value <= c:
                raise SpecError(f"slice {key} {value} is outside the {c} channels (−{c} … {c})").located(
                    node.param_loc(key))
            bounds[key] = value + c if value < 0 else value
        if bounds["start"] >= bounds["end"]:
            raise SpecError(f"slice [{bounds['start']}, {bounds['end']}) of the {c} channels is empty").located(
                node.param_loc("end" if node.params["end"] is not None else "start"))
        return ChannelRange(bounds["start"], bounds["end"])

    def output_shape(self, node: Node):
        g = node.geometry
        return (g.end - g.start, *node.spatial_in)

    def explain_output(self, node: Node) -> list[str]:
        g, c, p = node.geometry, node.in_shape[0], node.params
        lines = [f"{key} {p[key]} counts from the end: {c} − {-p[key]} = {value}"
                 for key, value in (("start", g.start), ("end", g.end)) if p[key] is not None and p[key] < 0]
        return lines + [f"C = end − start = {g.end} − {g.start} = {g.end - g.start} (channels [{g.start}, {g.end}) "
                        f"of {c})"] + [f"spatial {list(node.spatial_in)} (unchanged)"] * bool(node.spatial_in)

    # ---- executor: a copy of the channel range; backward puts the gradient back in place ----
    def forward(self, node, inputs, weights, ctx):
        g = node.geometry
        return inputs[0][:, g.start:g.end].copy(), None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        import numpy as np

        g = node.geometry
        dx = np.zeros_like(inputs[0])
        dx[:, g.start:g.end] = grad_output
        return [dx], {}

    def support(self, node, dy, ctx):
        # the backward reads its input only for its shape: no forward, and dy stays boolean
        import numpy as np

        shape = (dy.shape[0], node.in_shape[0], *dy.shape[2:])
        return self.backward(node, [np.broadcast_to(np.zeros((), dy.dtype), shape)], None, dy, {}, None, ctx)[0]
