"""pixel_shuffle (contract §7): [C, s₁, …, s_d] → [C / r^d, r·s₁, …, r·s_d], a permutation of the
elements (no arithmetic), ordered as PyTorch's PixelShuffle: in 2-D input channel c·r² + i·r + j
feeds output channel c at offset (i, j) of each r×r block; in 1-D and 3-D the same order, the
offset of the first axis most significant. Output o reads input ⌊o / r⌋ along each axis, like
nearest upsampling by r (its receptive-field rule)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from netcalc import window
from netcalc.errors import SpecError
from netcalc.layers.base import Geometry, LayerType, Node, axis_names, register
from netcalc.params import Param


@dataclass(frozen=True)
class Shuffle(Geometry):
    factor: int  # r
    channels: int  # C / r^d


def _interleaved(d: int) -> tuple[int, ...]:
    """Axis order taking (N, C', r₁…r_d, s₁…s_d) to (N, C', s₁, r₁, …, s_d, r_d)."""
    return (0, 1) + tuple(a for k in range(d) for a in (2 + d + k, 2 + k))


@register
class PixelShuffle(LayerType):
    name = "pixel_shuffle"
    summary = "moves channel blocks of r^d into r× larger spatial dims (PyTorch's PixelShuffle)"
    params = (Param("factor", "int", aliases=("upscale_factor",), minimum=1, doc="r"),)
    needs_spatial = True

    def configure(self, node: Node) -> Shuffle:
        r, d, c = node.params["factor"], len(node.spatial_in), node.in_shape[0]
        if c % r ** d:
            raise SpecError(f"pixel_shuffle by {r} needs input channels divisible by {r}^{d} = {r ** d}; "
                            f"got {c}").located(node.param_loc("factor"))
        return Shuffle(r, c // r ** d)

    def output_shape(self, node: Node):
        r = node.geometry.factor
        return (node.geometry.channels, *(r * n for n in node.spatial_in))

    def axis_maps(self, node: Node):
        return [window.nearest_map(Fraction(1, node.geometry.factor)) for _ in node.spatial_in]

    def explain_output(self, node: Node) -> list[str]:
        r, d = node.geometry.factor, len(node.spatial_in)
        return ([f"C = C_in / r^d = {node.in_shape[0]} / {r}^{d} = {node.geometry.channels}"]
                + [f"{axis}: r·n = {r}·{n} = {o}"
                   for axis, n, o in zip(axis_names(d), node.spatial_in, node.spatial_out)])

    # ---- executor: a reshape and a transpose (its backward: the inverse transpose, unshuffle) ----
    def forward(self, node, inputs, weights, ctx):
        return shuffle(inputs[0], node.geometry.factor), None

    def backward(self, node, inputs, output, grad_output, weights, cache, ctx):
        return [unshuffle(grad_output, node.geometry.factor)], {}


# ---- the two permutations, each the other's inverse (pixel_unshuffle runs them the other way) ----

def shuffle(x, r: int):
    """(N, C·r^d, s₁, …) → (N, C, r·s₁, …): channel c·r^d + offset goes to that offset of each
    r×…×r block, the first axis's offset most significant."""
    if r == 1:  # the identity: a new array, not a view the executor might overwrite in place
        return x.copy()
    d = x.ndim - 2
    c = x.shape[1] // r ** d
    blocks = x.reshape(x.shape[:1] + (c,) + (r,) * d + x.shape[2:])
    return blocks.transpose(_interleaved(d)).reshape(x.shape[:1] + (c,) + tuple(r * n for n in x.shape[2:]))


def unshuffle(y, r: int):
    """(N, C, r·s₁, …) → (N, C·r^d, s₁, …), the inverse of :func:`shuffle`."""
    import numpy as np

    if r == 1:
        return y.copy()
    d = y.ndim - 2
    split = y.reshape(y.shape[:2] + tuple(a for n in y.shape[2:] for a in (n // r, r)))
    flat = split.transpose(np.argsort(_interleaved(d)))
    return np.ascontiguousarray(flat.reshape(y.shape[:1] + (y.shape[1] * r ** d,) + tuple(n // r for n in y.shape[2:])))
