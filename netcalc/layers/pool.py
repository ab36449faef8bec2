"""Pooling: max/avg (sliding windows), global, adaptive, and SPP."""

from __future__ import annotations

from math import prod

from netcalc import window
from netcalc.errors import SpecError
from netcalc.layers.base import LayerType, Node, axis_names, dot, register
from netcalc.layers.conv import DILATION, KERNEL, PADDING
from netcalc.params import Param

POOL_STRIDE = Param("stride", "dims", None, minimum=1, doc="defaults to kernel", default_text="kernel")
CEIL_MODE = Param("ceil_mode", "bool", False)


class Pool(LayerType):
    """Sliding-window pooling; the shape and receptive field share window.py with conv."""

    needs_spatial = True
    macs_rule = "0"
    flops_rule = "Πk per output (whatever the padding or ceil_mode)"

    def geometry(self, node: Node):
        """(kernel, stride, dilation) per axis."""
        p = node.params
        dilation = p.get("dilation") or (1,) * len(p["kernel"])
        return p["kernel"], p["stride"] or p["kernel"], dilation

    def configure(self, node: Node) -> None:
        kernel, stride, dilation = self.geometry(node)
        pads = window.resolve_padding(node.params["padding"], kernel, stride, dilation, self.name)
        for k, d, pad in zip(kernel, dilation, pads):
            # PyTorch rejects windows that could lie wholly in padding
            if max(pad) > window.effective_kernel(k, d) // 2:
                raise SpecError(f"padding {max(pad)} is more than half the window "
                                f"({window.effective_kernel(k, d)}); PyTorch rejects this").located(
                    node.param_loc("padding"))
        node.extra["pads"] = pads

    def output_shape(self, node: Node):
        kernel, stride, dilation = self.geometry(node)
        sizes = tuple(window.sliding_output_size(n, k, s, d, pad, node.params["ceil_mode"])
                      for n, k, s, d, pad in zip(node.spatial_in, kernel, stride, dilation, node.extra["pads"]))
        return (node.in_shape[0], *sizes)

    def count_flops(self, node: Node) -> int:
        # contract §4: the seed's k²·H_out·W_out·C, generalised to Πk per output
        return prod(node.out_shape) * prod(node.params["kernel"])

    def sliding_geometry(self, node: Node):
        return list(zip(*self.geometry(node), (pad[0] for pad in node.extra["pads"])))

    def explain(self, node: Node) -> dict[str, list[str]]:
        kernel, stride, dilation = self.geometry(node)
        ceil_mode = node.params["ceil_mode"]
        lines = [f"C = {node.in_shape[0]} (unchanged)"]
        for axis, n, k, s, d, pad, o in zip(axis_names(len(kernel)), node.spatial_in, kernel, stride, dilation,
                                            node.extra["pads"], node.spatial_out):
            lines.append(f"{axis}: " + window.sliding_output_text(n, k, s, d, pad, o, ceil_mode))
        return {"output": lines, "params": ["0 (nothing learnable)"], "macs": ["0 (pooling does no MACs)"],
                "flops": [f"Πk per output × outputs = {dot(kernel)} · {dot(node.out_shape)} = {self.count_flops(node)}"]}

    def axis_maps(self, node: Node):
        kernel, stride, dilation = self.geometry(node)
        return [window.sliding_map(k, s, d, pad[0])
                for k, s, d, pad in zip(kernel, stride, dilation, node.extra["pads"])]

    # ---- executor ----
    def workspace_bytes(self, node, batch, itemsize, max_workspace):
        # a padded copy of the input (pooling loops over kernel offsets: no im2col), output-sized
        # temporaries, and max pooling's int64 argmax; the probe's uniform conv adds one im2col tile
        k = prod(node.params["kernel"])
        padded = node.in_shape[0] * prod(n + 2 * k for n in node.spatial_in)
        cols = node.in_shape[0] * k * prod(node.spatial_out)
        return batch * itemsize * (padded + 3 * prod(node.out_shape)) + min(batch * itemsize * cols, max_workspace)

    def _probe_weights(self, node: Node, x):
        """A uniform depthwise kernel with the pool's window: every tap gets gradient (probe mode)."""
        import numpy as np

        kernel = self.geometry(node)[0]
        return np.full((x.shape[1], 1, *kernel), 1.0 / prod(kernel), dtype=x.dtype)

    def _probe_forward(self, node, x, ctx):
        from netcalc import kernels

        _, stride, dilation = self.geometry(node)
        return kernels.conv_forward(x, self._probe_weights(node, x), None, stride, dilation,
                                    node.extra["pads"], x.shape[1], node.spatial_out, ctx.max_workspace_bytes)

    def _probe_backward(self, node, x, dy, ctx):
        from netcalc import kernels

        _, stride, dilation = self.geometry(node)
        # dX of the uniform depthwise conv: its data adjoint, the transposed conv
        return kernels.conv_transpose_forward(dy, self._probe_weights(node, x), None, stride, dilation,
                                              node.extra["pads"], x.shape[1], node.spatial_in,
                                              ctx.max_workspace_bytes)


@register
class MaxPool(Pool):
    name = "maxpool"
    summary = "max pooling (PyTorch's MaxPool1d/2d/3d)"
    params = (KERNEL, POOL_STRIDE, PADDING, DILATION, CEIL_MODE)

    def forward(self, node, inputs, weights, ctx):
        from netcalc import kernels

        if ctx.probe:  # max routes the gradient to one argmax; probe the whole window instead
            return self._probe_forward(node, inputs[0], ctx), None
        kernel, stride, dilation = self.geometry(node)
        return kernels.max_pool_forward(inputs[0], kernel, stride, dilation, node.extra["pads"],
                                        node.spatial_out, with_argmax=ctx.caches)

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        from netcalc import kernels

        if ctx.probe:
            return [self._probe_backward(node, inputs[0], grad_output, ctx)], {}
        return [kernels.max_pool_backward(grad_output, cache, inputs[0].shape)], {}


@register
class AvgPool(Pool):
    name = "avgpool"
    summary = "average pooling (PyTorch's AvgPool1d/2d/3d)"
    params = (KERNEL, POOL_STRIDE, PADDING, CEIL_MODE, Param("count_include_pad", "bool", True))

    def forward(self, node, inputs, weights, ctx):
        from netcalc import kernels

        kernel, stride, _ = self.geometry(node)
        return kernels.avg_pool_forward(inputs[0], kernel, stride, node.extra["pads"], node.spatial_out,
                                        node.params["count_include_pad"]), None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        from netcalc import kernels

        kernel, stride, _ = self.geometry(node)
        return [kernels.avg_pool_backward(grad_output, inputs[0].shape, kernel, stride, node.extra["pads"],
                                          node.spatial_out, node.params["count_include_pad"])], {}


class AdaptivePool(LayerType):
    """Pooling into PyTorch's adaptive bins [⌊o·n/m⌋, ⌈(o+1)·n/m⌉) per axis."""

    needs_spatial = True
    flops_rule = "the size of each output's actual bin, summed over outputs"

    def target(self, node: Node) -> tuple[int, ...]:
        return node.params["out"]

    def output_shape(self, node: Node):
        return (node.in_shape[0], *self.target(node))

    def count_flops(self, node: Node) -> int:
        return node.in_shape[0] * bin_elements(node.spatial_in, self.target(node))

    def axis_maps(self, node: Node):
        return [window.adaptive_map(n, m) for n, m in zip(node.spatial_in, self.target(node))]

    @property
    def mode(self) -> str:
        return "max" if "max" in self.name else "avg"

    def forward(self, node, inputs, weights, ctx):
        from netcalc import kernels

        mode = "avg" if ctx.probe else self.mode  # probe: every bin element gets gradient
        return kernels.adaptive_pool_forward(inputs[0], node.spatial_out, mode)

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        from netcalc import kernels

        mode = "avg" if ctx.probe else self.mode
        return [kernels.adaptive_pool_backward(grad_output, inputs[0], node.spatial_out, mode, cache)], {}

    def explain(self, node: Node) -> dict[str, list[str]]:
        out = super().explain(node)
        target = self.target(node)
        out["output"] = [f"C = {node.in_shape[0]} (unchanged); spatial {list(target)} by definition; output o of an "
                         f"axis of n inputs reads the bin [⌊o·n/m⌋, ⌈(o+1)·n/m⌉)"]
        sums = [sum(e - b for b, e in (window.adaptive_bin(o, n, m) for o in range(m)))
                for n, m in zip(node.spatial_in, target)]
        out["flops"] = [f"C · Π(per axis: Σ bin sizes) = {node.in_shape[0]}·{dot(sums)} = {self.count_flops(node)}"]
        return out


def bin_elements(spatial_in, spatial_out) -> int:
    """Σ over outputs of their bin's size; bins are products of per-axis intervals."""
    total = 1
    for n, m in zip(spatial_in, spatial_out):
        total *= sum(end - start for start, end in (window.adaptive_bin(o, n, m) for o in range(m)))
    return total


class GlobalPool(AdaptivePool):
    flops_rule = "one per input element"

    def target(self, node: Node):
        return (1,) * len(node.spatial_in)


ADAPTIVE_OUT = Param("out", "dims", aliases=("output_size",), minimum=1, doc="output size per spatial dim")

for _mode in ("avg", "max"):
    register(type(f"Global{_mode.title()}Pool", (GlobalPool,), {
        "name": f"global_{_mode}pool", "summary": f"global {_mode} pooling → [C, 1, …]"}))
    register(type(f"Adaptive{_mode.title()}Pool", (AdaptivePool,), {
        "name": f"adaptive_{_mode}pool", "params": (ADAPTIVE_OUT,),
        "summary": f"adaptive {_mode} pooling (PyTorch's AdaptiveAvg/MaxPool)"}))


@register
class SPP(LayerType):
    name = "spp"
    summary = "spatial pyramid pooling: adaptive bins per level, flattened channel-first, concatenated"
    params = (Param("levels", "levels", doc="e.g. [1, 2, 4]"), Param("mode", "choice", "max", choices=("max", "avg")))
    needs_spatial = True
    flops_rule = "the size of each output's actual bin, summed over outputs (all levels)"

    def output_shape(self, node: Node):
        ndim = len(node.spatial_in)
        return (node.in_shape[0] * sum(n ** ndim for n in node.params["levels"]),)

    def forward(self, node, inputs, weights, ctx):
        from netcalc import kernels

        mode = "avg" if ctx.probe else node.params["mode"]
        return kernels.spp_forward(inputs[0], node.params["levels"], mode)

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        from netcalc import kernels

        mode = "avg" if ctx.probe else node.params["mode"]
        return [kernels.spp_backward(grad_output, inputs[0], node.params["levels"], mode, cache)], {}

    def count_flops(self, node: Node) -> int:
        ndim = len(node.spatial_in)
        return sum(node.in_shape[0] * bin_elements(node.spatial_in, (n,) * ndim) for n in node.params["levels"])
