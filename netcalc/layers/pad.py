"""pad (contract §7): [C, s₁, …] → [C, s₁ + before + after, …], PyTorch's F.pad modes: zeros
(alias constant: filled with `value`), reflect (mirrored without repeating the edge; a pad must be
smaller than the size), replicate (the edge repeated) and circular (wrapped around; a pad at most
the size). `padding` is given like conv's (an int, one per spatial dim, or [before, after] pairs),
in the spec's axis order — not F.pad's last-axis-first list.

No arithmetic (0 FLOPs, no params). Receptive field (§7): output o is input coordinate o − before
along each axis in every mode (size 1, jump 1), as conv padding positions count; so `verify --rf`
probes every mode as zero padding (ZEROS_PADDED), whose gradient stays on those coordinates. The
same stand-in probes conv's `padding_mode` (layers/conv.py)."""

from __future__ import annotations

from dataclasses import dataclass

from netcalc import window
from netcalc.errors import SpecError
from netcalc.formula import Metric, ZERO
from netcalc.layers.base import Node, Windowed, axis_names, register
from netcalc.params import Param
from netcalc.saved import INPUT


@dataclass(frozen=True, kw_only=True)
class PadGeometry(window.Window):
    """A 1-wide window with the pads (so shape and field come from window.py) and the mode."""

    mode: str  # zeros, reflect, replicate or circular ("constant" is stored as zeros)
    value: float


class ZerosPadded:
    """Probe stand-in for a type with a padding mode: the type's own kernels with zero padding,
    so the gradient of a padded position stays at its coordinate (o − before), where the field
    says it is, instead of moving onto the input element that a copying mode reads."""

    def forward(self, node, inputs, weights, ctx):
        return node.kind.forward(node, inputs, weights, ctx, mode="zeros")

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        return node.kind.backward(node, inputs, output, grad_output, weights, cache, ctx, mode="zeros")


ZEROS_PADDED = ZerosPadded()


def checked_mode(node: Node, mode: str, pads, param: str) -> None:
    """PyTorch's limits of the copying modes (window.check_padding_fits), located at `param`."""
    try:
        window.check_padding_fits(mode, pads, node.spatial_in, axis_names(len(node.spatial_in)))
    except SpecError as exc:
        raise exc.located(node.param_loc(param)) from None


@register
class Pad(Windowed):
    name = "pad"
    summary = "pads the spatial dims (PyTorch's F.pad / ZeroPad, ConstantPad, ReflectionPad, …)"
    params = (Param("padding", "padding", doc="int, per-dim list or [before, after] pairs (not same/valid)"),
              Param("mode", "choice", "zeros", choices=("zeros", "constant", "reflect", "replicate", "circular")),
              Param("value", "float", 0.0, doc="fill value of zeros/constant mode"))
    probe = ZEROS_PADDED
    channel_blind = True  # the support probe runs ZEROS_PADDED on one channel standing for all
    flops_count = Metric(ZERO, zero="0 (a copy: no arithmetic)")
    # training: PyTorch's reflection and replication pads keep their input; constant and
    # circular padding keep only sizes
    saved_rule = "reflect, replicate: its input; zeros, constant, circular: nothing"

    def saved_for_backward(self, node: Node):
        return (INPUT,) if node.params["mode"] in ("reflect", "replicate") else ()

    def configure(self, node: Node) -> PadGeometry:
        p = node.params
        if isinstance(p["padding"], str):
            raise SpecError(f"pad takes explicit sizes (an int, a list, or [before, after] pairs), "
                            f"not '{p['padding']}'").located(node.param_loc("padding"))
        mode = "zeros" if p["mode"] == "constant" else p["mode"]
        if mode != "zeros" and p["value"] != 0:
            raise SpecError(f"mode {p['mode']} copies input elements and takes no 'value' "
                            f"(as in PyTorch); got {p['value']:g}").located(node.param_loc("value"))
        d = len(node.spatial_in)
        checked_mode(node, mode, p["padding"], "padding")
        return PadGeometry.resolve(node.spatial_in, (1,) * d, (1,) * d, (1,) * d, p["padding"], self.name,
                                   mode=mode, value=p["value"])

    def explain_output(self, node: Node) -> list[str]:
        g = node.geometry
        how = {"zeros": f"filled with {g.value:g}", "reflect": "mirrored, without repeating the edge",
               "replicate": "the edge repeated", "circular": "wrapped around"}[g.mode]
        return ([f"C = {node.in_shape[0]} (unchanged); padding mode {g.mode}: {how}"]
                + [f"{axis}: n + before + after = {n} + {b} + {a} = {o}" for axis, n, (b, a), o
                   in zip(axis_names(len(g.pads)), node.spatial_in, g.pads, node.spatial_out)])

    # ---- executor: kernels.pad_forward / pad_backward ----
    def forward(self, node, inputs, weights, ctx, mode=None):
        from netcalc import kernels

        g = node.geometry
        return kernels.pad_forward(inputs[0], g.pads, mode or g.mode, g.value), None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx, mode=None):
        from netcalc import kernels

        return [kernels.pad_backward(grad_output, inputs[0].shape, node.geometry.pads, mode or node.geometry.mode)], {}
