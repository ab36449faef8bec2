"""Convolutions: conv (dilated, grouped), depthwise, conv_transpose, and the separable composite."""

from __future__ import annotations

from math import prod

from netcalc import window
from netcalc.errors import SpecError
from netcalc.layers.base import LayerType, Node, axis_names, dot, register
from netcalc.layers.composite import BuiltinBlock, Part
from netcalc.params import Param

KERNEL = Param("kernel", "dims", aliases=("kernel_size",), minimum=1, doc="window size")
STRIDE = Param("stride", "dims", 1, minimum=1)
PADDING = Param("padding", "padding", 0, doc="int, per-dim list, [before, after] pairs, same, valid")
DILATION = Param("dilation", "dims", 1, minimum=1)
BIAS = Param("bias", "bool", True)
OUT = Param("out", "int", aliases=("out_channels",), minimum=1, doc="output channels")
GROUPS = Param("groups", "int", 1, minimum=1)
MULTIPLIER = Param("multiplier", "int", 1, aliases=("depth_multiplier",), minimum=1)


class Conv(LayerType):
    name = "conv"
    summary = "convolution (cross-correlation, PyTorch's Conv1d/2d/3d)"
    params = (OUT, KERNEL, STRIDE, PADDING, DILATION, GROUPS, BIAS)
    needs_spatial = True
    params_rule = "C_out·(C_in/g)·Πk (+ C_out bias)"
    macs_rule = "C_out · Π(out spatial) · (C_in/g) · Πk"
    flops_rule = "per output a dot product of n = C_in/g·Πk terms: 2n − 1, + 1 with bias"

    def channels(self, node: Node) -> tuple[int, int, int]:
        """(C_in, C_out, groups)."""
        return node.in_shape[0], node.params["out"], node.params["groups"]

    def configure(self, node: Node) -> None:
        p = node.params
        c_in, c_out, groups = self.channels(node)
        for what, count in (("input channels", c_in), ("output channels", c_out)):
            if count % groups:
                raise SpecError(f"groups={groups} does not divide the {count} {what}").located(node.param_loc("groups"))
        node.extra["pads"] = window.resolve_padding(p["padding"], p["kernel"], p["stride"], p["dilation"], self.name)

    def output_shape(self, node: Node):
        p, pads = node.params, node.extra["pads"]
        sizes = tuple(window.sliding_output_size(n, k, s, d, pad)
                      for n, k, s, d, pad in zip(node.spatial_in, p["kernel"], p["stride"], p["dilation"], pads))
        return (self.channels(node)[1], *sizes)

    def dot_length(self, node: Node) -> int:
        c_in, _, groups = self.channels(node)
        return c_in // groups * prod(node.params["kernel"])

    def count_params(self, node: Node) -> int:
        c_out = self.channels(node)[1]
        return c_out * self.dot_length(node) + (c_out if node.params["bias"] else 0)

    def count_macs(self, node: Node) -> int:
        # contract §4: C_out · Π(out spatial) · (C_in/g) · Πk
        return prod(node.out_shape) * self.dot_length(node)

    def count_flops(self, node: Node) -> int:
        # n multiplies + (n − 1) adds per output, + 1 add for the bias
        return prod(node.out_shape) * (2 * self.dot_length(node) - 1 + node.params["bias"])

    def axis_maps(self, node: Node):
        p = node.params
        return [window.sliding_map(k, s, d, pad[0])
                for k, s, d, pad in zip(p["kernel"], p["stride"], p["dilation"], node.extra["pads"])]

    def sliding_geometry(self, node: Node):
        p = node.params
        return list(zip(p["kernel"], p["stride"], p["dilation"], (pad[0] for pad in node.extra["pads"])))

    def explain(self, node: Node) -> dict[str, list[str]]:
        p, pads = node.params, node.extra["pads"]
        c_in, c_out, g = self.channels(node)
        k, n, bias = p["kernel"], self.dot_length(node), p["bias"]
        outputs = prod(node.out_shape)
        lines = [f"C_out = {c_out}"]
        for axis, size, kk, s, d, pad, o in zip(axis_names(len(k)), node.spatial_in, k, p["stride"],
                                               p["dilation"], pads, node.spatial_out):
            lines.append(f"{axis}: " + window.sliding_output_text(size, kk, s, d, pad, o))
        plus_bias = f" + {c_out}" if bias else ""
        return {
            "output": lines,
            "params": [f"C_out·(C_in/g)·Πk{' + C_out' if bias else ''} = {c_out}·({c_in}/{g})·{dot(k)}{plus_bias}"
                       f" = {self.count_params(node)}"],
            "macs": [f"C_out·Π(out spatial)·(C_in/g)·Πk = {c_out}·{dot(node.spatial_out)}·({c_in}/{g})·{dot(k)}"
                     f" = {self.count_macs(node)}"],
            "flops": [f"n = (C_in/g)·Πk = ({c_in}/{g})·{dot(k)} = {n} terms per output",
                      f"per output: {n} multiplies + {n - 1} adds{' + 1 bias add' if bias else ''}"
                      f" = 2·{n} − 1{' + 1' if bias else ''} = {2 * n - 1 + bias}",
                      f"× outputs {dot(node.out_shape)} = {outputs} → {outputs}·{2 * n - 1 + bias}"
                      f" = {self.count_flops(node)}"],
        }

    def weight_shapes(self, node: Node):
        c_in, c_out, groups = self.channels(node)
        shapes = {"weight": (c_out, c_in // groups, *node.params["kernel"])}
        if node.params["bias"]:
            shapes["bias"] = (c_out,)
        return shapes

    # ---- executor: im2col + GEMM per group (kernels.conv_*) ----
    def workspace_bytes(self, node, batch, itemsize, max_workspace):
        # a padded copy of the input, one im2col tile of C_in·Πk × out columns, the GEMM result
        k = prod(node.params["kernel"])
        padded = node.in_shape[0] * prod(n + 2 * k for n in node.spatial_in)
        cols = node.in_shape[0] * k * prod(node.spatial_out)
        return batch * itemsize * (padded + prod(node.out_shape)) + min(batch * itemsize * cols, max_workspace)

    def _geometry(self, node: Node):
        p = node.params
        return p["stride"], p["dilation"], node.extra["pads"], self.channels(node)[2], node.spatial_out

    def forward(self, node, inputs, weights, ctx):
        from netcalc import kernels

        stride, dilation, pads, groups, out_size = self._geometry(node)
        y = kernels.conv_forward(inputs[0], weights["weight"], weights.get("bias"), stride, dilation,
                                 pads, groups, out_size, ctx.max_workspace_bytes)
        return y, None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        from netcalc import kernels

        stride, dilation, pads, groups, out_size = self._geometry(node)
        if not ctx.weight_grads:  # dX only: a conv's data adjoint is the transposed conv
            return [kernels.conv_transpose_forward(grad_output, weights["weight"], None, stride, dilation, pads,
                                                   groups, node.spatial_in, ctx.max_workspace_bytes)], {}
        dx, dw, db = kernels.conv_backward(grad_output, inputs[0], weights["weight"], stride, dilation,
                                           pads, groups, out_size, "bias" in weights,
                                           ctx.max_workspace_bytes)
        grads = {"weight": dw}
        if db is not None:
            grads["bias"] = db
        return [dx], grads


class Depthwise(Conv):
    name = "depthwise"
    aliases = ("dwconv",)
    summary = "depthwise conv: groups = C_in, C_out = C_in × multiplier"
    params = (KERNEL, STRIDE, PADDING, DILATION, MULTIPLIER, BIAS)
    params_rule = "C_in·multiplier·Πk (+ C_in·multiplier bias)"
    macs_rule = "C_out · Π(out spatial) · Πk"

    def channels(self, node: Node):
        c_in = node.in_shape[0]
        return c_in, c_in * node.params["multiplier"], c_in


class ConvTranspose(Conv):
    name = "conv_transpose"
    aliases = ("deconv",)
    summary = "transposed convolution (PyTorch's ConvTranspose1d/2d/3d)"
    params = (OUT, KERNEL, STRIDE, PADDING, Param("output_padding", "dims", 0, minimum=0), DILATION, GROUPS, BIAS)
    params_rule = "C_in·(C_out/g)·Πk (+ C_out bias)"
    macs_rule = "C_in · Π(in spatial) · (C_out/g) · Πk — the products actually formed"
    flops_rule = ("Σ over outputs of (2n − 1) for the n ≥ 1 products landing on it, + 1 per output with bias; "
                  "products landing in cropped padding count in MACs only")

    def configure(self, node: Node) -> None:
        p = node.params
        if p["padding"] == "same":
            raise SpecError("padding 'same' is not defined for conv_transpose (as in PyTorch)").located(
                node.param_loc("padding"))
        super().configure(node)
        for op, s, d in zip(p["output_padding"], p["stride"], p["dilation"]):
            if op >= max(s, d):
                raise SpecError(f"output_padding {op} must be smaller than stride or dilation "
                                f"(as in PyTorch)").located(node.param_loc("output_padding"))

    def output_shape(self, node: Node):
        p, pads = node.params, node.extra["pads"]
        sizes = tuple(window.transposed_output_size(n, k, s, d, pad, op) for n, k, s, d, pad, op in
                      zip(node.spatial_in, p["kernel"], p["stride"], p["dilation"], pads, p["output_padding"]))
        return (p["out"], *sizes)

    def count_params(self, node: Node) -> int:
        c_in, c_out, groups = self.channels(node)
        return c_in * (c_out // groups) * prod(node.params["kernel"]) + (c_out if node.params["bias"] else 0)

    def count_macs(self, node: Node) -> int:
        # contract §4: input-based, C_in · Π(in spatial) · (C_out/g) · Πk
        c_in, c_out, groups = self.channels(node)
        return c_in * prod(node.spatial_in) * (c_out // groups) * prod(node.params["kernel"])

    def count_flops(self, node: Node) -> int:
        # An output reached by n = (C_in/g)·Π(per-axis landings) products costs 2n − 1. Landings
        # factor over axes, so sum per axis and multiply instead of visiting every output.
        c_in, c_out, groups = self.channels(node)
        landed = reached = 1
        for amap, n_in, n_out in zip(self.axis_maps(node), node.spatial_in, node.spatial_out):
            counts = window.landing_counts(n_in, n_out, amap)
            landed *= sum(counts)
            reached *= sum(1 for c in counts if c)
        flops = c_out * (2 * (c_in // groups) * landed - reached)
        return flops + (prod(node.out_shape) if node.params["bias"] else 0)

    def axis_maps(self, node: Node):
        p = node.params
        return [window.transposed_map(k, s, d, pad[0])
                for k, s, d, pad in zip(p["kernel"], p["stride"], p["dilation"], node.extra["pads"])]

    def sliding_geometry(self, node: Node):
        return None  # fields form staircases here; see rf.py

    def explain(self, node: Node) -> dict[str, list[str]]:
        p, pads = node.params, node.extra["pads"]
        c_in, c_out, g = self.channels(node)
        k, bias = p["kernel"], p["bias"]
        lines = [f"C_out = {c_out}", "per axis: (n − 1)·s − (p_before + p_after) + d·(k − 1) + output_padding + 1"]
        for axis, size, kk, s, d, pad, op, o in zip(axis_names(len(k)), node.spatial_in, k, p["stride"],
                                                   p["dilation"], pads, p["output_padding"], node.spatial_out):
            lines.append(f"{axis}: " + window.transposed_output_text(size, kk, s, d, pad, op, o))
        flops = [f"each output sums the n products landing on it: 2n − 1 when n ≥ 1"
                 f"{', + 1 per output for the bias' if bias else ''}"]
        landed = reached = 1
        for axis, amap, n_in, n_out in zip(axis_names(len(k)), self.axis_maps(node), node.spatial_in, node.spatial_out):
            counts = window.landing_counts(n_in, n_out, amap)
            landed, reached = landed * sum(counts), reached * sum(1 for c in counts if c)
            flops.append(f"{axis}: {sum(counts)} kernel taps land on the {n_out} outputs, "
                         f"{sum(1 for c in counts if c)} of them reached")
        flops.append(f"C_out·(2·(C_in/g)·Π landed − Π reached){' + outputs' if bias else ''} = "
                     f"{c_out}·(2·({c_in}/{g})·{landed} − {reached}){f' + {prod(node.out_shape)}' if bias else ''}"
                     f" = {self.count_flops(node)}")
        return {
            "output": lines,
            "params": [f"C_in·(C_out/g)·Πk{' + C_out' if bias else ''} = {c_in}·({c_out}/{g})·{dot(k)}"
                       f"{f' + {c_out}' if bias else ''} = {self.count_params(node)}"],
            "macs": [f"C_in·Π(in spatial)·(C_out/g)·Πk = {c_in}·{dot(node.spatial_in)}·({c_out}/{g})·{dot(k)}"
                     f" = {self.count_macs(node)} (the products actually formed)"],
            "flops": flops,
        }

    def weight_shapes(self, node: Node):
        c_in, c_out, groups = self.channels(node)
        shapes = {"weight": (c_in, c_out // groups, *node.params["kernel"])}
        if node.params["bias"]:
            shapes["bias"] = (c_out,)
        return shapes

    # ---- executor: col2im scatter (kernels.conv_transpose_*) ----
    def workspace_bytes(self, node, batch, itemsize, max_workspace):
        # the scatter: a padded output-sized buffer, one tile of C_out·Πk × in columns
        k = prod(node.params["kernel"])
        padded = node.out_shape[0] * prod(n + 2 * k for n in node.spatial_out)
        cols = node.out_shape[0] * k * prod(node.spatial_in)
        return batch * itemsize * (padded + prod(node.out_shape)) + min(batch * itemsize * cols, max_workspace)

    def forward(self, node, inputs, weights, ctx):
        from netcalc import kernels

        stride, dilation, pads, groups, out_size = self._geometry(node)
        y = kernels.conv_transpose_forward(inputs[0], weights["weight"], weights.get("bias"), stride,
                                           dilation, pads, groups, out_size, ctx.max_workspace_bytes)
        return y, None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        from netcalc import kernels

        stride, dilation, pads, groups, out_size = self._geometry(node)
        if not ctx.weight_grads:  # dX only: a transposed conv's data adjoint is the conv
            return [kernels.conv_forward(grad_output, weights["weight"], None, stride, dilation, pads, groups,
                                         node.spatial_in, ctx.max_workspace_bytes)], {}
        dx, dw, db = kernels.conv_transpose_backward(grad_output, inputs[0], weights["weight"], stride,
                                                     dilation, pads, groups, out_size, "bias" in weights,
                                                     ctx.max_workspace_bytes)
        grads = {"weight": dw}
        if db is not None:
            grads["bias"] = db
        return [dx], grads


# A built-in block: expanded by the spec builder like a `blocks:` instance named after the entry.
SEPARABLE = BuiltinBlock(
    name="separable",
    summary="depthwise then 1×1 pointwise conv (listed as <name>.depthwise and <name>.pointwise)",
    params=(OUT, KERNEL, STRIDE, PADDING, DILATION, MULTIPLIER, BIAS),
    parts=(Part("depthwise", "depthwise", ("kernel", "stride", "padding", "dilation", "multiplier", "bias")),
           Part("pointwise", "conv", ("out", "bias"), {"kernel": 1})),
    params_rule="as its depthwise + pointwise parts", macs_rule="as its depthwise + pointwise parts",
    flops_rule="as its depthwise + pointwise parts",
)

for layer_type in (Conv, Depthwise, ConvTranspose, SEPARABLE):
    register(layer_type)
