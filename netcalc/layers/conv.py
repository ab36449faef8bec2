"""Convolutions: conv (dilated, grouped), depthwise, conv_transpose, and the separable composite.

conv, depthwise and separable take PyTorch's `padding_mode` (contract §7): zeros, reflect,
replicate or circular. It changes no shape, count or receptive field (padding positions count by
their coordinate whatever they hold); the executor pads the input in that mode
(kernels.pad_forward) and convolves without padding, as PyTorch does, and `verify --rf` probes
the conv with zero padding (layers/pad.py's ZEROS_PADDED)."""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from netcalc import window
from netcalc.errors import SpecError
from netcalc.formula import C_IN, IN_SPATIAL, OUT_SPATIAL, Dims, Let, Metric, Opt, Ratio, Sym, Tagged, flag
from netcalc.layers.base import LayerType, Node, Windowed, axis_names, register, weight_grads
from netcalc.layers.composite import BuiltinBlock, Part
from netcalc.layers.pad import ZEROS_PADDED, checked_mode
from netcalc.params import Param
from netcalc.saved import INPUT

KERNEL = Param("kernel", "dims", aliases=("kernel_size",), minimum=1, doc="window size")
STRIDE = Param("stride", "dims", 1, minimum=1)
PADDING = Param("padding", "padding", 0, doc="int, per-dim list, [before, after] pairs, same, valid")
DILATION = Param("dilation", "dims", 1, minimum=1)
BIAS = Param("bias", "bool", True)
OUT = Param("out", "int", aliases=("out_channels",), minimum=1, doc="output channels")
GROUPS = Param("groups", "int", 1, minimum=1)
MULTIPLIER = Param("multiplier", "int", 1, aliases=("depth_multiplier",), minimum=1)
PADDING_MODE = Param("padding_mode", "choice", "zeros", choices=window.PADDING_MODES,
                     doc="what the padding holds (PyTorch's padding_mode)")


@dataclass(frozen=True, kw_only=True)
class ConvGeometry(window.Window):
    """A conv's window plus its channels (C_in, C_out, groups)."""

    c_in: int
    c_out: int
    groups: int
    padding_mode: str = "zeros"


@dataclass(frozen=True, kw_only=True)
class TransposedGeometry(ConvGeometry):
    """A transposed conv's geometry; `landings` holds, per axis, (products landing on the real
    outputs, outputs reached by at least one): the one place the FLOP count's loop runs."""

    output_padding: tuple[int, ...]
    landings: tuple[tuple[int, int], ...]


# ---- the symbols of the conv family's formulas ----
C_OUT = Sym("C_out", lambda n: n.geometry.c_out)
G = Sym("g", lambda n: n.geometry.groups)
K = Dims("Πk", lambda n: n.geometry.kernel)
HAS_BIAS = flag("bias")
OUTPUTS = Let("outputs", Dims("Π(output)", lambda n: n.out_shape))
N = Let("n", Ratio(C_IN, G) * K)  # the dot-product length of one output
PER_OUTPUT = Let("f", 2 * N - 1 + Opt(HAS_BIAS, 1, "with bias"))


def _conv_flops_lines():
    return ("n = {n.rule} = {n.worked} = {n} terms per output",
            "per output: {gloss.worked} = {f.worked} = {f}",
            "× outputs {outputs.worked} = {outputs} → {worked} = {value}")


class Conv(Windowed):
    name = "conv"
    summary = "convolution (cross-correlation, PyTorch's Conv1d/2d/3d)"
    params = (OUT, KERNEL, STRIDE, PADDING, DILATION, GROUPS, BIAS, PADDING_MODE)
    probe = ZEROS_PADDED  # a padding mode changes values, not which coordinates a field covers
    scatters = False  # the transposed conv scatters into its output (workspace_bytes)
    saved = (INPUT,)  # training: its input, for the weight gradient (depthwise and transposed alike)
    params_count = Metric(C_OUT * Ratio(C_IN, G) * K + Opt(HAS_BIAS, C_OUT, "bias"))
    macs_count = Metric(C_OUT * OUT_SPATIAL * Ratio(C_IN, G) * K)
    # a dot product of n terms: n multiplies + (n − 1) adds, + 1 add for the bias, per output
    flops_count = Metric(OUTPUTS * PER_OUTPUT, lines=_conv_flops_lines(), n=N, f=PER_OUTPUT, outputs=OUTPUTS,
                         gloss=Tagged(N, "multiplies") + Tagged(N - 1, "adds") + Opt(HAS_BIAS, Tagged(1, "bias add")))

    def channels(self, node: Node) -> tuple[int, int, int]:
        """(C_in, C_out, groups) from the parameters."""
        return node.in_shape[0], node.params["out"], node.params["groups"]

    def checked_channels(self, node: Node) -> dict:
        c_in, c_out, groups = self.channels(node)
        for what, count in (("input channels", c_in), ("output channels", c_out)):
            if count % groups:
                raise SpecError(f"groups={groups} does not divide the {count} {what}").located(node.param_loc("groups"))
        return {"c_in": c_in, "c_out": c_out, "groups": groups}

    def configure(self, node: Node) -> ConvGeometry:
        p = node.params
        g = ConvGeometry.resolve(node.spatial_in, p["kernel"], p["stride"], p["dilation"], p["padding"], self.name,
                                 **self.checked_channels(node), padding_mode=p["padding_mode"])
        checked_mode(node, g.padding_mode, g.pads, "padding_mode")
        return g

    def explain_output(self, node: Node) -> list[str]:
        mode = node.geometry.padding_mode
        note = [] if mode == "zeros" else [f"padding_mode {mode}: the pads hold copied input values; "
                                           f"shape and counts as with zeros"]
        return super().explain_output(node) + note

    def out_channels(self, node: Node) -> int:
        return node.geometry.c_out

    def weight_layout(self, g: ConvGeometry) -> tuple[int, int]:
        """PyTorch's weight is [first, second/groups, *k]: conv [C_out, C_in/g, *k]."""
        return g.c_out, g.c_in

    def weight_shapes(self, node: Node):
        g = node.geometry
        first, second = self.weight_layout(g)
        shapes = {"weight": (first, second // g.groups, *g.kernel)}
        if node.params["bias"]:
            shapes["bias"] = (g.c_out,)
        return shapes

    # ---- executor: im2col + GEMM per group (kernels.conv_*) ----
    def workspace_bytes(self, node, batch, itemsize, max_workspace):
        # conv: a padded copy of the input, one im2col tile of C_in·Πk × out columns, the GEMM
        # result; transposed: the scatter's padded output-sized buffer, one tile of C_out·Πk × in
        # columns
        padded_side, column_side = ((node.out_shape, node.in_shape) if self.scatters
                                    else (node.in_shape, node.out_shape))
        workspace = _window_workspace(node, padded_side[0], padded_side[1:], column_side[1:], batch, itemsize,
                                      max_workspace, temporaries=1)
        g = node.geometry
        if g.padding_mode == "zeros":
            return workspace
        # a copying padding mode first pads the whole input in that mode (kernels.pad_forward)
        return workspace + batch * itemsize * g.c_in * prod(n + b + a for n, (b, a) in zip(node.spatial_in, g.pads))

    def _padded(self, node, x, mode):
        """(input, pads) for the conv kernels: x itself with zero padding; with a copying
        padding_mode x padded in that mode (as PyTorch's F.pad before its conv) and no pads."""
        from netcalc import kernels

        g = node.geometry
        if (mode or g.padding_mode) == "zeros":
            return x, g.pads
        return kernels.pad_forward(x, g.pads, g.padding_mode), tuple((0, 0) for _ in g.pads)

    def forward(self, node, inputs, weights, ctx, mode=None):
        from netcalc import kernels

        g = node.geometry
        x, pads = self._padded(node, inputs[0], mode)
        y = kernels.conv_forward(x, weights["weight"], weights.get("bias"), g.stride, g.dilation,
                                 pads, g.groups, g.out, ctx.max_workspace_bytes)
        return y, None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx, mode=None):
        from netcalc import kernels

        g = node.geometry
        x, pads = self._padded(node, inputs[0], mode)
        if not ctx.weight_grads:  # dX only: a conv's data adjoint is the transposed conv
            dx = kernels.conv_transpose_forward(grad_output, weights["weight"], None, g.stride, g.dilation, pads,
                                                g.groups, x.shape[2:], ctx.max_workspace_bytes)
            dw = db = None
        else:
            dx, dw, db = kernels.conv_backward(grad_output, x, weights["weight"], g.stride, g.dilation,
                                               pads, g.groups, g.out, "bias" in weights, ctx.max_workspace_bytes)
        if x is not inputs[0]:  # back through the padding: copied elements add onto their sources
            dx = kernels.pad_backward(dx, inputs[0].shape, g.pads, g.padding_mode)
        return [dx], ({} if dw is None else weight_grads(dw, db))

    def support(self, node, dy, ctx):
        """The data adjoint with a kernel of ones on one channel per group (one in all when dy's
        channels are all alike), on booleans: the field does not depend on channel counts or
        weight values, only on which output channels read which input channels (the groups)."""
        import numpy as np

        g = node.geometry
        n, c = dy.shape[:2]
        groups = 1 if c == 1 else g.groups
        dy = dy.reshape(n, groups, c // groups, *dy.shape[2:]).any(axis=2)  # any channel of each group
        dx = self.support_adjoint(node, dy)
        return [dx if groups == 1 else np.repeat(dx, g.c_in // groups, axis=1)]

    def support_adjoint(self, node, dy):
        """Where dX is nonzero for a boolean dY and a kernel of ones: col2im's scatter, with zero
        padding whatever the padding mode (as the float probe's ZEROS_PADDED stand-in: padding
        positions are coordinates of the field)."""
        from netcalc import kernels

        g = node.geometry
        return kernels.correlate_support_adjoint(dy, g.kernel, g.stride, g.dilation, g.pads, node.spatial_in)


def _window_workspace(node, channels, spatial_in, spatial_out, batch, itemsize, max_workspace, temporaries):
    """A padded copy of the `spatial_in`-sized tensor, `temporaries` output-sized arrays, and one
    im2col tile of channels·Πk × Π(spatial_out) columns (capped at the workspace budget)."""
    k = prod(node.geometry.kernel)
    padded = channels * prod(n + 2 * k for n in spatial_in)
    cols = channels * k * prod(spatial_out)
    return batch * itemsize * (padded + temporaries * prod(node.out_shape)) + min(batch * itemsize * cols, max_workspace)


class Depthwise(Conv):
    name = "depthwise"
    aliases = ("dwconv",)
    summary = "depthwise conv: groups = C_in, C_out = C_in × multiplier"
    params = (KERNEL, STRIDE, PADDING, DILATION, MULTIPLIER, BIAS, PADDING_MODE)

    def channels(self, node: Node):
        c_in = node.in_shape[0]
        return c_in, c_in * node.params["multiplier"], c_in


def _landed(node) -> int:
    return prod(landed for landed, _ in node.geometry.landings)


def _reached(node) -> int:
    return prod(reached for _, reached in node.geometry.landings)


def _landing_lines(node) -> list[str]:
    g = node.geometry
    lines = [f"each output sums the n products landing on it: 2n − 1 when n ≥ 1"
             f"{', + 1 per output for the bias' if node.params['bias'] else ''}"]
    for axis, (landed, reached), n_out in zip(axis_names(len(g.kernel)), g.landings, g.out):
        lines.append(f"{axis}: {landed} kernel taps land on the {n_out} outputs, {reached} of them reached")
    return lines


class ConvTranspose(Conv):
    name = "conv_transpose"
    aliases = ("deconv",)
    summary = "transposed convolution (PyTorch's ConvTranspose1d/2d/3d)"
    params = (OUT, KERNEL, STRIDE, PADDING, Param("output_padding", "dims", 0, minimum=0), DILATION, GROUPS, BIAS)
    scatters = True
    probe = None  # zero padding only (PyTorch's ConvTranspose has no other padding_mode)
    params_count = Metric(C_IN * Ratio(C_OUT, G) * K + Opt(HAS_BIAS, C_OUT, "bias"))
    # contract §4: input-based, the products actually formed
    macs_count = Metric(C_IN * IN_SPATIAL * Ratio(C_OUT, G) * K,
                        lines=("{rule} = {worked} = {value} (the products actually formed)",),
                        note="— the products actually formed")
    # An output reached by n = (C_in/g)·Π(per-axis landings) products costs 2n − 1. Landings factor
    # over axes, so Σ over outputs = C_out·(2·(C_in/g)·Π landed − Π reached); products landing in
    # cropped padding count in MACs only
    flops_count = Metric(C_OUT * (2 * Ratio(C_IN, G) * Sym("Π landed", _landed) - Sym("Π reached", _reached))
                         + Opt(HAS_BIAS, Dims("outputs", lambda n: n.out_shape), "with bias"),
                         lines=(_landing_lines, "{rule} = {worked} = {value}"),
                         note="(landed: products landing on real outputs, per axis; reached: outputs with ≥ 1)")

    def configure(self, node: Node) -> TransposedGeometry:
        p = node.params
        if p["padding"] == "same":
            raise SpecError("padding 'same' is not defined for conv_transpose (as in PyTorch)").located(
                node.param_loc("padding"))
        channels = self.checked_channels(node)
        for op, s, d in zip(p["output_padding"], p["stride"], p["dilation"]):
            if op >= max(s, d):
                raise SpecError(f"output_padding {op} must be smaller than stride or dilation "
                                f"(as in PyTorch)").located(node.param_loc("output_padding"))
        pads = window.resolve_padding(p["padding"], p["kernel"], p["stride"], p["dilation"], self.name)
        axes = list(zip(node.spatial_in, p["kernel"], p["stride"], p["dilation"], pads, p["output_padding"]))
        out = tuple(window.transposed_output_size(*axis) for axis in axes)
        landings = []
        for (n_in, k, s, d, pad, _), n_out in zip(axes, out):
            counts = window.landing_counts(n_in, n_out, window.transposed_map(k, s, d, pad[0]))
            landings.append((sum(counts), sum(1 for c in counts if c)))
        return TransposedGeometry(kernel=p["kernel"], stride=p["stride"], dilation=p["dilation"], pads=pads, out=out,
                                  **channels, output_padding=p["output_padding"],
                                  landings=tuple(landings))

    def axis_maps(self, node: Node):
        g = node.geometry
        return [window.transposed_map(k, s, d, p) for k, s, d, p in zip(g.kernel, g.stride, g.dilation, g.pads_before)]

    def sliding_geometry(self, node: Node):
        return None  # fields form staircases here; see rf.py

    def explain_output(self, node: Node) -> list[str]:
        g = node.geometry
        lines = [f"C_out = {g.c_out}", "per axis: (n − 1)·s − (p_before + p_after) + d·(k − 1) + output_padding + 1"]
        for axis, size, k, s, d, pad, op in zip(axis_names(len(g.kernel)), node.spatial_in, g.kernel, g.stride,
                                                g.dilation, g.pads, g.output_padding):
            lines.append(f"{axis}: " + window.transposed_output_text(size, k, s, d, pad, op))
        return lines

    def weight_layout(self, g: ConvGeometry) -> tuple[int, int]:
        """conv_transpose's weight is [C_in, C_out/g, *k]."""
        return g.c_in, g.c_out

    # ---- executor: col2im scatter (kernels.conv_transpose_*) ----

    def forward(self, node, inputs, weights, ctx):
        from netcalc import kernels

        g = node.geometry
        y = kernels.conv_transpose_forward(inputs[0], weights["weight"], weights.get("bias"), g.stride,
                                           g.dilation, g.pads, g.groups, g.out, ctx.max_workspace_bytes)
        return y, None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        from netcalc import kernels

        g = node.geometry
        if not ctx.weight_grads:
            return [self.data_adjoint(node, grad_output, weights["weight"], g.groups, ctx)], {}
        dx, dw, db = kernels.conv_transpose_backward(grad_output, inputs[0], weights["weight"], g.stride,
                                                     g.dilation, g.pads, g.groups, g.out, "bias" in weights,
                                                     ctx.max_workspace_bytes)
        return [dx], weight_grads(dw, db)

    def support_adjoint(self, node, dy):
        """Where dX is nonzero for a boolean dY and a kernel of ones: the conv's window gather."""
        from netcalc import kernels

        g = node.geometry
        return kernels.correlate_support(dy, g.kernel, g.stride, g.dilation, g.pads, node.spatial_in)

    def data_adjoint(self, node, grad_output, weight, groups, ctx):
        """dX alone: a transposed conv's data adjoint is the conv."""
        from netcalc import kernels

        g = node.geometry
        return kernels.conv_forward(grad_output, weight, None, g.stride, g.dilation, g.pads, groups, node.spatial_in,
                                    ctx.max_workspace_bytes)


# A built-in block: expanded by the spec builder like a `blocks:` instance named after the entry.
SEPARABLE = BuiltinBlock(
    name="separable",
    summary="depthwise then 1×1 pointwise conv (listed as <name>.depthwise and <name>.pointwise)",
    params=(OUT, KERNEL, STRIDE, PADDING, DILATION, MULTIPLIER, BIAS, PADDING_MODE),
    parts=(Part("depthwise", "depthwise", ("kernel", "stride", "padding", "dilation", "multiplier", "bias",
                                           "padding_mode")),
           Part("pointwise", "conv", ("out", "bias"), {"kernel": 1})),
    params_rule="as its depthwise + pointwise parts", macs_rule="as its depthwise + pointwise parts",
    flops_rule="as its depthwise + pointwise parts",
)

for layer_type in (Conv, Depthwise, ConvTranspose, SEPARABLE):
    register(layer_type)
