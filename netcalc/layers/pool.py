"""Pooling: max/avg (sliding windows), global, adaptive, and SPP."""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from netcalc import window
from netcalc.errors import SpecError
from netcalc.formula import C, ZERO, Dims, Metric, Mul, Sym
from netcalc.layers.base import Geometry, LayerType, Node, Windowed, register
from netcalc.layers.conv import DILATION, KERNEL, PADDING, _window_workspace
from netcalc.params import Param
from netcalc.saved import INDICES, INPUT, describe

POOL_STRIDE = Param("stride", "dims", None, minimum=1, doc="defaults to kernel", default_text="kernel")
CEIL_MODE = Param("ceil_mode", "bool", False)
NO_POOL_MACS = Metric(ZERO, zero="0 (pooling does no MACs)")


class Pool(Windowed):
    """Sliding-window pooling; the shape and receptive field share window.py with conv."""

    channel_blind = True

    channel_label = "C"
    macs_count = NO_POOL_MACS
    # contract §4: the seed's k²·H_out·W_out·C, generalised to Πk per output
    flops_count = Metric(Mul([Dims("Πk", lambda n: n.geometry.kernel), Dims("outputs", lambda n: n.out_shape)],
                             sep=" · "),
                         lines=("Πk per output × outputs = {worked} = {value}",),
                         note="(whatever the padding or ceil_mode)")

    def configure(self, node: Node) -> window.Window:
        p = node.params
        kernel = p["kernel"]
        stride, dilation = p["stride"] or kernel, p.get("dilation") or (1,) * len(kernel)
        pads = window.resolve_padding(p["padding"], kernel, stride, dilation, self.name)
        for k, d, pad in zip(kernel, dilation, pads):
            # PyTorch rejects windows that could lie wholly in padding
            if max(pad) > window.effective_kernel(k, d) // 2:
                raise SpecError(f"padding {max(pad)} is more than half the window "
                                f"({window.effective_kernel(k, d)}); PyTorch rejects this").located(
                    node.param_loc("padding"))
        return window.Window.resolve(node.spatial_in, kernel, stride, dilation, pads, self.name, p["ceil_mode"])

    def support(self, node, dy, ctx):
        """Every tap of the window (max is probed as the uniform window, average weights every tap
        by a positive share): col2im's scatter of the boolean dy, channel by channel."""
        from netcalc import kernels

        g = node.geometry
        return [kernels.correlate_support_adjoint(dy, g.kernel, g.stride, g.dilation, g.pads, node.spatial_in)]

    # ---- executor ----
    def workspace_bytes(self, node, batch, itemsize, max_workspace):
        # a padded copy of the input (pooling loops over kernel offsets: no im2col), output-sized
        # temporaries, and max pooling's int64 argmax; the probe's uniform conv adds one im2col tile
        return _window_workspace(node, node.in_shape[0], node.spatial_in, node.spatial_out, batch, itemsize,
                                 max_workspace, temporaries=3)


class UniformWindow:
    """Probe stand-in for max pooling: a uniform depthwise conv over the same window, so every
    tap the max reads gets gradient (max would route it to one argmax)."""

    @staticmethod
    def _weights(node: Node, x):
        import numpy as np

        kernel = node.geometry.kernel
        return np.full((x.shape[1], 1, *kernel), 1.0 / prod(kernel), dtype=x.dtype)

    def forward(self, node, inputs, weights, ctx):
        from netcalc import kernels

        x, g = inputs[0], node.geometry
        return kernels.conv_forward(x, self._weights(node, x), None, g.stride, g.dilation, g.pads, x.shape[1],
                                    g.out, ctx.max_workspace_bytes), None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        from netcalc import kernels

        x, g = grad_output, node.geometry  # channels and dtype as the gradient's
        # dX of the uniform depthwise conv: its data adjoint, the transposed conv
        return [kernels.conv_transpose_forward(grad_output, self._weights(node, x), None, g.stride, g.dilation,
                                               g.pads, x.shape[1], node.spatial_in, ctx.max_workspace_bytes)], {}


@register
class MaxPool(Pool):
    name = "maxpool"
    summary = "max pooling (PyTorch's MaxPool1d/2d/3d)"
    params = (KERNEL, POOL_STRIDE, PADDING, DILATION, CEIL_MODE)
    probe = UniformWindow()
    saved = (INPUT, INDICES)  # training: its input and the argmax of every output (int64)

    def forward(self, node, inputs, weights, ctx):
        from netcalc import kernels

        g = node.geometry
        return kernels.max_pool_forward(inputs[0], g.kernel, g.stride, g.dilation, g.pads, g.out,
                                        with_argmax=ctx.caches)

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        from netcalc import kernels

        return [kernels.max_pool_backward(grad_output, cache, inputs[0].shape)], {}


@register
class AvgPool(Pool):
    name = "avgpool"
    summary = "average pooling (PyTorch's AvgPool1d/2d/3d)"
    params = (KERNEL, POOL_STRIDE, PADDING, CEIL_MODE, Param("count_include_pad", "bool", True))
    saved = (INPUT,)

    def forward(self, node, inputs, weights, ctx):
        from netcalc import kernels

        g = node.geometry
        return kernels.avg_pool_forward(inputs[0], g.kernel, g.stride, g.pads, g.out,
                                        node.params["count_include_pad"]), None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        from netcalc import kernels

        g = node.geometry
        return [kernels.avg_pool_backward(grad_output, inputs[0].shape, g.kernel, g.stride, g.pads, g.out,
                                          node.params["count_include_pad"])], {}


@dataclass(frozen=True)
class Bins(Geometry):
    """Adaptive pooling's output size per spatial axis (PyTorch's bins follow from it)."""

    out: tuple[int, ...]


def bin_sums(spatial_in, spatial_out) -> tuple[int, ...]:
    """Per axis, Σ over outputs of their bin's size; bins are products of per-axis intervals."""
    return tuple(sum(end - start for start, end in (window.adaptive_bin(o, n, m) for o in range(m)))
                 for n, m in zip(spatial_in, spatial_out))


class AdaptiveKernel:
    """Adaptive pooling's kernels in one mode; the average one is also max's probe stand-in
    (every element of a bin gets gradient)."""

    def __init__(self, mode: str):
        self.mode = mode

    def forward(self, node, inputs, weights, ctx):
        from netcalc import kernels

        return kernels.adaptive_pool_forward(inputs[0], node.spatial_out, self.mode)

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        from netcalc import kernels

        return [kernels.adaptive_pool_backward(grad_output, inputs[0], node.spatial_out, self.mode, cache)], {}


AVERAGE_BINS, MAX_BINS = AdaptiveKernel("avg"), AdaptiveKernel("max")


class AdaptivePool(LayerType):
    """Pooling into PyTorch's adaptive bins [⌊o·n/m⌋, ⌈(o+1)·n/m⌉) per axis."""

    needs_spatial = True
    channel_blind = True
    field_spans_input = True  # bins cover the input whatever its size
    pooling = AVERAGE_BINS  # the generated max types set MAX_BINS, probed as AVERAGE_BINS
    flops_count = Metric(Mul([C, Dims("Π(per axis: Σ bin sizes)", lambda n: bin_sums(n.spatial_in, n.spatial_out))],
                             rule_sep=" · "),
                         note="(the size of each output's actual bin, summed over outputs)")

    def target(self, node: Node) -> tuple[int, ...]:
        return node.params["out"]

    # training: max keeps its input and int64 indices; avg its input, except that PyTorch takes a
    # mean when every output size is 1, and a mean keeps only sizes
    def saved_for_backward(self, node: Node):
        if self.pooling is MAX_BINS:
            return (INPUT, INDICES)
        return () if all(s == 1 for s in node.out_shape[1:]) else (INPUT,)

    @property
    def saved_rule(self) -> str:
        if self.pooling is MAX_BINS:
            return describe((INPUT, INDICES))
        return "its input; nothing when every output size is 1 (a mean)"

    def configure(self, node: Node) -> Bins:
        return Bins(tuple(self.target(node)))

    def output_shape(self, node: Node):
        return (node.in_shape[0], *node.geometry.out)

    def axis_maps(self, node: Node):
        return [window.adaptive_map(n, m) for n, m in zip(node.spatial_in, node.geometry.out)]

    def forward(self, node, inputs, weights, ctx):
        return self.pooling.forward(node, inputs, weights, ctx)

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        return self.pooling.backward(node, inputs, output, grad_output, weights, cache, ctx)

    def explain_output(self, node: Node) -> list[str]:
        return [f"C = {node.in_shape[0]} (unchanged); spatial {list(node.geometry.out)} by definition; output o "
                f"of an axis of n inputs reads the bin [⌊o·n/m⌋, ⌈(o+1)·n/m⌉)"]


class GlobalPool(AdaptivePool):
    def target(self, node: Node):
        return (1,) * len(node.spatial_in)

    @property
    def saved_rule(self) -> str:
        return describe((INPUT, INDICES)) if self.pooling is MAX_BINS else "nothing (a mean keeps only sizes)"


ADAPTIVE_OUT = Param("out", "dims", aliases=("output_size",), minimum=1, doc="output size per spatial dim")

for _mode, _kernel, _probe in (("avg", AVERAGE_BINS, None), ("max", MAX_BINS, AVERAGE_BINS)):
    register(type(f"Global{_mode.title()}Pool", (GlobalPool,), {
        "name": f"global_{_mode}pool", "summary": f"global {_mode} pooling → [C, 1, …]",
        "pooling": _kernel, "probe": _probe}))
    register(type(f"Adaptive{_mode.title()}Pool", (AdaptivePool,), {
        "name": f"adaptive_{_mode}pool", "params": (ADAPTIVE_OUT,), "pooling": _kernel, "probe": _probe,
        "summary": f"adaptive {_mode} pooling (PyTorch's AdaptiveAvg/MaxPool)"}))


def _spp_flops(node: Node) -> int:
    ndim = len(node.spatial_in)
    return sum(node.in_shape[0] * prod(bin_sums(node.spatial_in, (n,) * ndim)) for n in node.params["levels"])


class SppKernel:
    """SPP's kernels; `mode` None: the spec's mode, else this one (the probe: "avg")."""

    def __init__(self, mode: str | None = None):
        self.mode = mode

    def forward(self, node, inputs, weights, ctx):
        from netcalc import kernels

        return kernels.spp_forward(inputs[0], node.params["levels"], self.mode or node.params["mode"])

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        from netcalc import kernels

        return [kernels.spp_backward(grad_output, inputs[0], node.params["levels"], self.mode or node.params["mode"],
                                     cache)], {}


@register
class SPP(SppKernel, LayerType):
    name = "spp"
    summary = "spatial pyramid pooling: adaptive bins per level, flattened channel-first, concatenated"
    params = (Param("levels", "levels", doc="e.g. [1, 2, 4]"), Param("mode", "choice", "max", choices=("max", "avg")))
    needs_spatial = True
    probe = SppKernel("avg")
    saved_rule = ("max: its input and int64 indices the size of its output; avg: its input (nothing when "
                  "every level is 1)")
    flops_count = Metric(Sym("Σ over levels of C·Π(per axis: Σ bin sizes)", _spp_flops), lines=("{rule} = {value}",),
                         note="(the size of each output's actual bin, summed over outputs)")

    def output_shape(self, node: Node):
        ndim = len(node.spatial_in)
        return (node.in_shape[0] * sum(n ** ndim for n in node.params["levels"]),)

    def saved_for_backward(self, node: Node):
        # one adaptive pooling per level, as PyTorch computes it (a level of 1 in avg mode is a mean)
        if node.params["mode"] == "max":
            return (INPUT, INDICES)
        return () if all(level == 1 for level in node.params["levels"]) else (INPUT,)
