"""Upsampling (nearest, and linear / bilinear / trilinear with align_corners=False)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import floor

from netcalc import window
from netcalc.errors import SpecError
from netcalc.formula import ELEMENTS, ZERO, Case, Metric, Sym
from netcalc.layers.base import Geometry, LayerType, Node, axis_names, register
from netcalc.params import Param


@dataclass(frozen=True)
class Resize(Geometry):
    """Output sizes and, per axis, the input step per output step (1/scale when a scale is
    given — PyTorch uses the scale itself — else in/out)."""

    out: tuple[int, ...]
    ratios: tuple[Fraction, ...]
    scale: tuple[float, ...] | None  # the kernels' scale (None: resize to `out`)


@register
class Upsample(LayerType):
    name = "upsample"
    summary = "upsampling by `scale` or to `size` (PyTorch's Upsample / interpolate)"
    params = (Param("scale", "scale", None, aliases=("scale_factor",)),
              Param("size", "dims", None, minimum=1),
              Param("mode", "choice", "nearest", choices=("nearest", "linear")))
    needs_spatial = True
    saved = ()  # nearest and linear alike: PyTorch's backward needs only sizes
    channel_blind = True
    # linear: per output 2^d weighted terms → 2^d multiplies + 2^d − 1 adds
    flops_count = Metric(Case(lambda n: n.params["mode"], nearest=ZERO,
                              linear=Sym("(2^(d+1) − 1)", lambda n: 2 ** (len(n.spatial_out) + 1) - 1) * ELEMENTS))

    def configure(self, node: Node) -> Resize:
        p = node.params
        if (p["scale"] is None) == (p["size"] is None):
            raise SpecError("upsample needs exactly one of 'scale' or 'size'").located(node.loc)
        if p["size"] is not None:
            out = tuple(p["size"])
            return Resize(out, tuple(Fraction(n, m) for n, m in zip(node.spatial_in, out)), None)
        out = tuple(floor(n * s) for n, s in zip(node.spatial_in, p["scale"]))  # PyTorch floors n·scale
        if min(out) < 1:
            raise SpecError(f"scale {[str(s) for s in p['scale']]} shrinks the input "
                            f"{list(node.spatial_in)} to nothing").located(node.param_loc("scale"))
        return Resize(out, tuple(1 / s for s in p["scale"]), tuple(float(s) for s in p["scale"]))

    def output_shape(self, node: Node):
        return (node.in_shape[0], *node.geometry.out)

    def axis_maps(self, node: Node):
        maps = []
        for ratio, n_in in zip(node.geometry.ratios, node.spatial_in):
            # PyTorch clamps the second tap at the edge, so from a single pixel linear
            # interpolation reads only that pixel, exactly like nearest
            linear = node.params["mode"] == "linear" and n_in > 1
            maps.append(window.linear_map(ratio) if linear else window.nearest_map(ratio))
        return maps

    def explain_output(self, node: Node) -> list[str]:
        p = node.params
        if p["size"] is not None:
            return [f"C = {node.in_shape[0]} (unchanged); spatial size {list(p['size'])} as given"]
        return [f"C = {node.in_shape[0]} (unchanged)"] + [
            f"{axis}: ⌊n·scale⌋ = ⌊{n}·{s}⌋ = {o}"
            for axis, n, s, o in zip(axis_names(len(node.spatial_in)), node.spatial_in, p["scale"], node.spatial_out)]

    # ---- executor: separable nearest / linear resize to node.out_shape ----
    def _scale(self, node: Node):
        return node.geometry.scale

    def forward(self, node, inputs, weights, ctx):
        return upsample_forward(inputs[0], node.spatial_out, node.params["mode"], self._scale(node)), None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        return [upsample_backward(grad_output, inputs[0].shape, node.spatial_out, node.params["mode"],
                                  self._scale(node))], {}

    def support(self, node, dy, ctx):
        shape = (*dy.shape[:2], *node.spatial_in)
        return [upsample_support(dy, shape, node.spatial_out, node.params["mode"], self._scale(node))]


# ---- the kernels: per axis a plan of source indices and weights, applied separably ----

def _upsample_axis_plan(n_in, n_out, mode, scale):
    """Per-dim source indices (i0, i1) and weight lam of the i1 sample."""
    import numpy as np

    o = np.arange(n_out)
    if mode == "nearest":
        if scale is not None:
            src = np.floor(o / float(scale)).astype(np.int64)
        else:
            src = (o * n_in) // n_out  # PyTorch's legacy nearest
        src = np.minimum(src, n_in - 1)
        return src, src, np.zeros(n_out)
    if mode != "linear":
        raise ValueError(f"unknown upsample mode {mode!r}")
    ratio = 1.0 / float(scale) if scale is not None else n_in / n_out
    src = np.maximum((o + 0.5) * ratio - 0.5, 0.0)  # align_corners=False
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, src - i0


def _scales(scale, nd):
    import numpy as np

    if scale is None:
        return (None,) * nd
    if isinstance(scale, (int, float, np.integer, np.floating)):
        return (float(scale),) * nd
    return tuple(None if s is None else float(s) for s in scale)


def _axis_plans(in_shape, out_size, mode, scale):
    """Per spatial axis of an (N, C, *spatial) input: (axis, input size, i0, i1, lam), the plan
    that forward, backward and the support probe all walk (resizing is separable over axes)."""
    from netcalc.kernels import _as_tuple

    nd = len(in_shape) - 2
    for axis, (n, o, sc) in enumerate(zip(in_shape[2:], _as_tuple(out_size, nd), _scales(scale, nd))):
        yield (axis, n, *_upsample_axis_plan(n, o, mode, sc))


def upsample_forward(x, out_size, mode, scale=None):
    """'nearest' or 'linear' (bi/tri-linear, align_corners=False) resize, separable over dims."""
    import numpy as np

    from netcalc.kernels import _broadcast_axis

    y = x
    for axis, _, i0, i1, lam in _axis_plans(x.shape, out_size, mode, scale):
        first = np.take(y, i0, axis=2 + axis)
        if mode == "nearest":
            y = first
            continue
        weight = _broadcast_axis(lam.astype(x.dtype), 2 + axis, y.ndim)
        y = first + (np.take(y, i1, axis=2 + axis) - first) * weight
    return np.ascontiguousarray(y)


def upsample_support(dy, x_shape, out_size, mode, scale=None):
    """Where :func:`upsample_backward` of a boolean dy is nonzero (`verify --rf`'s support probe):
    the same plan, OR-ed instead of added. Each output reads i0 (weight 1 − λ > 0) and, for
    linear, i1 where its weight λ is not 0; both index lists rise with the output, so each run of
    equal indices is one `logical_or.reduceat` (no slow `ufunc.at`)."""
    import numpy as np

    dx = dy
    for axis, n, i0, i1, lam in _axis_plans(x_shape, out_size, mode, scale):
        moved = np.moveaxis(dx, 2 + axis, 0)
        acc = np.zeros((n,) + moved.shape[1:], dtype=bool)
        taps = [(i0, moved)] if mode == "nearest" else [(i0, moved), (i1[lam > 0], moved[lam > 0])]
        for index, rows in taps:
            if len(index):
                starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
                acc[index[starts]] |= np.logical_or.reduceat(rows, starts, axis=0)
        dx = np.moveaxis(acc, 0, 2 + axis)
    return np.ascontiguousarray(dx)


def upsample_backward(dy, x_shape, out_size, mode, scale=None):
    """Adjoint of :func:`upsample_forward`: scatter-add through the same plan."""
    import numpy as np

    dx = dy
    for axis, n, i0, i1, lam in _axis_plans(x_shape, out_size, mode, scale):
        moved = np.moveaxis(dx, 2 + axis, 0)
        acc = np.zeros((n,) + moved.shape[1:], dtype=dy.dtype)
        if mode == "nearest":
            np.add.at(acc, i0, moved)
        else:
            weight = lam.astype(dy.dtype).reshape((-1,) + (1,) * (moved.ndim - 1))
            np.add.at(acc, i0, moved * (1 - weight))
            np.add.at(acc, i1, moved * weight)
        dx = np.moveaxis(acc, 0, 2 + axis)
    return np.ascontiguousarray(dx)
