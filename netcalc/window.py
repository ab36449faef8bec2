"""Sliding-window arithmetic shared by every windowed layer (conv, pooling, transposed conv,
adaptive pooling, upsampling): output sizes, padding resolution, and the per-axis index maps
that the receptive-field calculus and the FLOP counts are built from.

An `AxisMap` says which input indices each output index reads along one axis: output o reads
`taps[o % period_out]` shifted by `(o // period_out) * period_in`. Indices are not clipped to
the tensor: padding positions are part of the lattice (contract §5).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import floor, gcd

from netcalc.errors import SpecError


@dataclass(frozen=True)
class AxisMap:
    period_out: int
    period_in: int
    taps: tuple[tuple[int, ...], ...]  # one tuple of input offsets per output residue

    def inputs_of(self, o: int) -> tuple[int, ...]:
        q, r = divmod(o, self.period_out)
        return tuple(t + q * self.period_in for t in self.taps[r])


def effective_kernel(kernel: int, dilation: int) -> int:
    return dilation * (kernel - 1) + 1


def resolve_padding(padding, kernel, stride, dilation, layer_type: str):
    """Turn a parsed `padding` value into one (before, after) pair per axis.

    `same` follows PyTorch: stride 1 only; total d·(k−1), an odd total puts the extra one after.
    """
    if padding == "valid":
        return tuple((0, 0) for _ in kernel)
    if padding == "same":
        if any(s != 1 for s in stride):
            raise SpecError(f"padding 'same' needs stride 1 (as in PyTorch); {layer_type} has stride {list(stride)}")
        pairs = []
        for k, d in zip(kernel, dilation):
            total = d * (k - 1)
            pairs.append((total // 2, total - total // 2))
        return tuple(pairs)
    return tuple(padding)


PADDING_MODES = ("zeros", "reflect", "replicate", "circular")  # PyTorch's padding_mode values


def check_padding_fits(mode: str, pads, spatial_in, axis_names) -> None:
    """PyTorch's limits on the copying padding modes: a reflect pad must be smaller than the
    size (it mirrors without repeating the edge), a circular pad at most the size (it would
    wrap around more than once); zeros and replicate take any pad."""
    for axis, n, pad in zip(axis_names, spatial_in, pads):
        if mode == "reflect" and max(pad) >= n:
            raise SpecError(f"reflect padding {list(pad)} must be smaller than the input size {n} along {axis} "
                            f"(as in PyTorch)")
        if mode == "circular" and max(pad) > n:
            raise SpecError(f"circular padding {list(pad)} must not exceed the input size {n} along {axis} "
                            f"(as in PyTorch: it would wrap around more than once)")


def _sliding(n: int, kernel: int, stride: int, dilation: int, pad: tuple[int, int], ceil_mode: bool):
    """The one statement of PyTorch's conv/pool size rule: (span, rounded, out) with
    span = n + pads − d·(k−1) − 1, rounded = ⌊span / s⌋ + 1 (⌈⌉ with ceil_mode), and out the
    size after dropping a last ceil_mode window that would start in the right padding."""
    span = n + pad[0] + pad[1] - effective_kernel(kernel, dilation)
    # ceil_mode rounds up: ⌊(span + s − 1)/s⌋ + 1, so a window may overhang the end by < s
    rounded = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    out = rounded
    if ceil_mode and out > 0 and (out - 1) * stride >= n + pad[0]:
        out -= 1
    return span, rounded, out


def sliding_output_size(n: int, kernel: int, stride: int, dilation: int, pad: tuple[int, int],
                        ceil_mode: bool = False) -> int:
    """PyTorch's conv/pool rule: ⌊(n + pads − d·(k−1) − 1) / s⌋ + 1 (⌈⌉ with ceil_mode, dropping a
    last window that would start in the right padding). Raises when no window fits."""
    out = _sliding(n, kernel, stride, dilation, pad, ceil_mode)[2]
    if out < 1:
        raise SpecError(
            f"input size {n} with padding {list(pad)} is smaller than the "
            f"{'dilated ' if dilation > 1 else ''}kernel ({effective_kernel(kernel, dilation)}): output would be empty"
        )
    return out


def _transposed(n, kernel, stride, dilation, pad, output_padding) -> int:
    """PyTorch's ConvTranspose rule: (n−1)·s − pads + d·(k−1) + output_padding + 1."""
    return (n - 1) * stride - pad[0] - pad[1] + dilation * (kernel - 1) + output_padding + 1


def transposed_output_size(n: int, kernel: int, stride: int, dilation: int, pad: tuple[int, int],
                           output_padding: int) -> int:
    out = _transposed(n, kernel, stride, dilation, pad, output_padding)
    if out <= 0:
        raise SpecError(f"transposed conv output size would be {out} (input {n}, padding {list(pad)}); it must be ≥ 1")
    return out


def sliding_map(kernel: int, stride: int, dilation: int, pad_before: int) -> AxisMap:
    """Output o reads o·s − p + t·d for t < k."""
    return AxisMap(1, stride, (tuple(-pad_before + t * dilation for t in range(kernel)),))


def transposed_map(kernel: int, stride: int, dilation: int, pad_before: int) -> AxisMap:
    """Input i adds into output i·s − p + t·d; so output r (mod s) receives i = (r + p − t·d)/s."""
    taps = []
    for r in range(stride):
        taps.append(tuple((r + pad_before - t * dilation) // stride
                          for t in range(kernel) if (r + pad_before - t * dilation) % stride == 0))
    return AxisMap(stride, 1, tuple(taps))


def adaptive_bin(o: int, n_in: int, n_out: int) -> tuple[int, int]:
    """PyTorch's adaptive pooling bin: [⌊o·n/m⌋, ⌈(o+1)·n/m⌉)."""
    return (o * n_in) // n_out, -(-((o + 1) * n_in) // n_out)


def adaptive_map(n_in: int, n_out: int) -> AxisMap:
    g = gcd(n_in, n_out)
    period_out, period_in = n_out // g, n_in // g
    taps = []
    for r in range(period_out):
        start, end = adaptive_bin(r, n_in, n_out)
        taps.append(tuple(range(start, end)))
    return AxisMap(period_out, period_in, tuple(taps))


def nearest_map(ratio: Fraction) -> AxisMap:
    """Nearest upsampling reads ⌊o·ratio⌋, ratio = in/out (or 1/scale)."""
    period_out, period_in = ratio.denominator, ratio.numerator
    return AxisMap(period_out, period_in, tuple((floor(r * ratio),) for r in range(period_out)))


def linear_map(ratio: Fraction) -> AxisMap:
    """Linear interpolation (align_corners=False) reads ⌊x⌋ and, unless x is whole, ⌊x⌋+1,
    with x = (o + ½)·ratio − ½ (unclamped: the lattice continues past the edges)."""
    period_out, period_in = ratio.denominator, ratio.numerator
    taps = []
    for r in range(period_out):
        x = (r + Fraction(1, 2)) * ratio - Fraction(1, 2)
        i0 = floor(x)
        taps.append((i0,) if x == i0 else (i0, i0 + 1))
    return AxisMap(period_out, period_in, tuple(taps))


def landing_counts(n_in: int, n_out: int, amap: AxisMap) -> list[int]:
    """How many (input, kernel tap) products land on each real output along one axis,
    counting only inputs that exist (used for transposed-conv FLOPs)."""
    return [sum(1 for i in amap.inputs_of(o) if 0 <= i < n_in) for o in range(n_out)]


# ---- worked formulas (explain): the same rules as text with the numbers substituted ----

def _pads_text(pad: tuple[int, int]) -> str:
    return f"2·{pad[0]}" if pad[0] == pad[1] else f"{pad[0]} + {pad[1]}"


def sliding_output_text(n: int, kernel: int, stride: int, dilation: int, pad: tuple[int, int],
                        ceil_mode: bool = False) -> str:
    """`⌊(224 + 2·3 − 1·(7 − 1) − 1) / 2⌋ + 1 = ⌊223 / 2⌋ + 1 = 112`, from the same _sliding
    that sliding_output_size uses."""
    span, rounded, out = _sliding(n, kernel, stride, dilation, pad, ceil_mode)
    lo, hi = ("⌈", "⌉") if ceil_mode else ("⌊", "⌋")
    text = (f"{lo}({n} + {_pads_text(pad)} − {dilation}·({kernel} − 1) − 1) / {stride}{hi} + 1 "
            f"= {lo}{span} / {stride}{hi} + 1")
    if rounded != out:
        return f"{text} = {rounded}, but the last window would start in the right padding: dropped → {out}"
    return f"{text} = {out}"


def transposed_output_text(n: int, kernel: int, stride: int, dilation: int, pad: tuple[int, int],
                           output_padding: int) -> str:
    out = _transposed(n, kernel, stride, dilation, pad, output_padding)
    return (f"({n} − 1)·{stride} − ({pad[0]} + {pad[1]}) + {dilation}·({kernel} − 1) + {output_padding} + 1"
            f" = {out}")


# ---- typed geometry: what configure() resolves for windowed layers ----

@dataclass(frozen=True, kw_only=True)
class Window:
    """A sliding window resolved per spatial axis: kernel, stride, dilation, (before, after) pads,
    ceil_mode, and the output sizes they give (computed once, here)."""

    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    pads: tuple[tuple[int, int], ...]
    ceil_mode: bool = False
    out: tuple[int, ...] = ()

    @classmethod
    def resolve(cls, spatial_in, kernel, stride, dilation, padding, layer_type: str, ceil_mode=False, **more):
        pads = resolve_padding(padding, kernel, stride, dilation, layer_type)
        out = tuple(sliding_output_size(n, k, s, d, pad, ceil_mode)
                    for n, k, s, d, pad in zip(spatial_in, kernel, stride, dilation, pads))
        return cls(kernel=tuple(kernel), stride=tuple(stride), dilation=tuple(dilation), pads=tuple(pads),
                   ceil_mode=ceil_mode, out=out, **more)

    @property
    def pads_before(self) -> tuple[int, ...]:
        return tuple(pad[0] for pad in self.pads)

    def axis_maps(self) -> list[AxisMap]:
        return [sliding_map(k, s, d, p) for k, s, d, p in zip(self.kernel, self.stride, self.dilation, self.pads_before)]

    def sliding(self) -> list[tuple[int, int, int, int]]:
        """Per axis (kernel, stride, dilation, pad_before): the classic rf arithmetic's inputs."""
        return list(zip(self.kernel, self.stride, self.dilation, self.pads_before))

    def output_lines(self, spatial_in, axis_names) -> list[str]:
        return [f"{axis}: " + sliding_output_text(n, k, s, d, pad, self.ceil_mode)
                for axis, n, k, s, d, pad in zip(axis_names, spatial_in, self.kernel, self.stride,
                                                 self.dilation, self.pads)]
