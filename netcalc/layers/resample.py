"""Upsampling (nearest, and linear / bilinear / trilinear with align_corners=False)."""

from __future__ import annotations

from fractions import Fraction
from math import floor, prod

from netcalc import window
from netcalc.errors import SpecError
from netcalc.layers.base import LayerType, Node, axis_names, dot, register
from netcalc.params import Param


@register
class Upsample(LayerType):
    name = "upsample"
    summary = "upsampling by `scale` or to `size` (PyTorch's Upsample / interpolate)"
    params = (Param("scale", "scale", None, aliases=("scale_factor",)),
              Param("size", "dims", None, minimum=1),
              Param("mode", "choice", "nearest", choices=("nearest", "linear")))
    needs_spatial = True
    flops_rule = "nearest 0; linear 2^(d+1) − 1 per output element"

    def configure(self, node: Node) -> None:
        p = node.params
        if (p["scale"] is None) == (p["size"] is None):
            raise SpecError("upsample needs exactly one of 'scale' or 'size'").located(node.loc)

    def output_shape(self, node: Node):
        p = node.params
        if p["size"] is not None:
            return (node.in_shape[0], *p["size"])
        sizes = tuple(floor(n * s) for n, s in zip(node.spatial_in, p["scale"]))  # PyTorch floors n·scale
        if min(sizes) < 1:
            raise SpecError(f"scale {[str(s) for s in p['scale']]} shrinks the input "
                            f"{list(node.spatial_in)} to nothing").located(node.param_loc("scale"))
        return (node.in_shape[0], *sizes)

    def ratios(self, node: Node) -> list[Fraction]:
        """Input step per output step: 1/scale when a scale is given (PyTorch uses the scale
        itself), else in/out."""
        if node.params["scale"] is not None:
            return [1 / s for s in node.params["scale"]]
        return [Fraction(n, m) for n, m in zip(node.spatial_in, node.spatial_out)]

    def count_flops(self, node: Node) -> int:
        if node.params["mode"] == "nearest":
            return 0
        # per output: 2^d weighted terms → 2^d multiplies + 2^d − 1 adds
        return (2 ** (len(node.spatial_out) + 1) - 1) * prod(node.out_shape)

    def axis_maps(self, node: Node):
        maps = []
        for ratio, n_in in zip(self.ratios(node), node.spatial_in):
            # PyTorch clamps the second tap at the edge, so from a single pixel linear
            # interpolation reads only that pixel, exactly like nearest
            linear = node.params["mode"] == "linear" and n_in > 1
            maps.append(window.linear_map(ratio) if linear else window.nearest_map(ratio))
        return maps

    def explain(self, node: Node) -> dict[str, list[str]]:
        out = super().explain(node)
        p = node.params
        if p["size"] is not None:
            out["output"] = [f"C = {node.in_shape[0]} (unchanged); spatial size {list(p['size'])} as given"]
        else:
            out["output"] = [f"C = {node.in_shape[0]} (unchanged)"] + [
                f"{axis}: ⌊n·scale⌋ = ⌊{n}·{s}⌋ = {o}"
                for axis, n, s, o in zip(axis_names(len(node.spatial_in)), node.spatial_in, p["scale"], node.spatial_out)]
        if p["mode"] == "nearest":
            out["flops"] = ["0 (nearest copies values)"]
        else:
            d = len(node.spatial_out)
            out["flops"] = [f"(2^(d+1) − 1) per output = (2^{d + 1} − 1)·{dot(node.out_shape)} = {self.count_flops(node)}"]
        return out

    # ---- executor: separable nearest / linear resize to node.out_shape ----
    def _scale(self, node: Node):
        scale = node.params["scale"]
        return None if scale is None else tuple(float(s) for s in scale)

    def forward(self, node, inputs, weights, ctx):
        from netcalc import kernels

        return kernels.upsample_forward(inputs[0], node.spatial_out, node.params["mode"], self._scale(node)), None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        from netcalc import kernels

        return [kernels.upsample_backward(grad_output, inputs[0].shape, node.spatial_out, node.params["mode"],
                                          self._scale(node))], {}
