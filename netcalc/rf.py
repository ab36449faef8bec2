"""Exact receptive fields (contract §5).

Along one axis, the field of output o is [lo(o), hi(o)] in input-pixel coordinates. Every
layer netcalc knows maps output indices to input indices periodically (window.AxisMap), so
fields are periodic too. A `Field` stores one period of them exactly (integers), in two parts
per residue r = o mod period:

- a *sliding* part [lo_r, hi_r] that moves with the output: at o = r + q·period it is
  [lo_r + q·shift, hi_r + q·shift]. This covers conv/pool chains (period 1: the classic affine
  arithmetic) and the staircases that transposed convs and upsampling create, with no
  fractional-stride approximation. jump = shift / period.
- a *fixed* part [a_r, b_r] that does not move with the output: what a broadcast input (a
  squeeze-excitation gate of spatial size 1) adds to every position of a merge.

The field of o is the hull of the two: [min(lo, a), max(hi, b)]. Either part may be absent
(None). Both survive every later layer exactly: a layer's output reads a set of input positions,
and the hull of their fields is the hull of their sliding parts (which still slide, by the
layer's stride) joined with the hull of their fixed parts (which still do not move). A merge
joins its inputs' sliding parts and their fixed parts separately, position by position.
Folding a fixed part into the sliding one would make it translate with the output, giving
fields wider than the whole padded input.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import gcd

from netcalc.units import fraction_text
from netcalc.window import AxisMap


class _once:
    """A value worked out on first read and kept in the instance's __dict__, where the frozen
    dataclass's equality and hash never look (functools.cached_property, without the lock
    Python 3.11 takes on every first read: thousands of Fields are read once each)."""

    def __init__(self, compute):
        self.compute, self.name = compute, compute.__name__

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.compute(obj)
        return value


def _join(a, b):
    """The hull of two intervals, either of which may be None (empty)."""
    if a is None:
        return b
    if b is None:
        return a
    return min(a[0], b[0]), max(a[1], b[1])


@dataclass(frozen=True)
class Field:
    period: int
    shift: int
    lo: tuple  # sliding part per residue; None where it is empty
    hi: tuple
    fixed: tuple | None = None  # per residue: the (lo, hi) that does not move with o, or None

    def __post_init__(self):
        if self.fixed is None:
            object.__setattr__(self, "fixed", (None,) * self.period)

    @staticmethod
    def identity() -> "Field":
        """The network input: pixel i sees exactly [i, i]."""
        return Field(1, 1, (0,), (0,))

    # jump, start and size are read for every layer, and a pointwise layer passes its input's
    # Field objects on unchanged: each is worked out once per Field.
    @_once
    def jump(self) -> Fraction:
        return Fraction(self.shift, self.period)

    @property
    def hull(self) -> tuple[int, int] | None:
        """The hull of every residue's fixed part: None when the field slides everywhere."""
        out = None
        for part in self.fixed:
            out = _join(out, part)
        return out

    def sliding(self, o: int) -> tuple[int, int] | None:
        """The sliding part of output o's field (None if empty)."""
        q, r = divmod(o, self.period)
        lo = self.lo[r]
        return None if lo is None else (lo + q * self.shift, self.hi[r] + q * self.shift)

    def bounds(self, o: int) -> tuple[int, int] | None:
        """[lo(o), hi(o)]: the hull of the sliding and the fixed part; None if both are empty."""
        return _join(self.sliding(o), self.fixed[o % self.period])

    def size(self, n_out: int) -> int | None:
        """The largest hi − lo + 1 over the real outputs 0 … n_out − 1."""
        sizes = self.__dict__.setdefault("_sizes", {})
        if n_out not in sizes:
            sizes[n_out] = self._size(n_out)
        return sizes[n_out]

    def _size(self, n_out: int) -> int | None:
        # Along one residue class o = r + q·period, hi − lo = max(hi_r + q·shift, b_r) −
        # min(lo_r + q·shift, a_r) is convex in q, so its largest value over the real outputs is
        # at the first or the last of them: two evaluations per residue, exact.
        sizes = []
        for r in range(min(self.period, n_out)):
            last = r + (n_out - 1 - r) // self.period * self.period
            for o in (r, last):
                b = self.bounds(o)
                if b is not None:
                    sizes.append(b[1] - b[0] + 1)
        return max(sizes) if sizes else None

    def start(self) -> Fraction | None:
        return self._start

    @_once
    def _start(self) -> Fraction | None:
        b = self.bounds(0)
        return None if b is None else Fraction(b[0] + b[1], 2)


def through(field: Field, amap: AxisMap) -> Field:
    """The field after a layer that reads its input along this axis through `amap`."""
    # The new period must move the input by a whole number of the old periods.
    period = amap.period_out * field.period // gcd(field.period, amap.period_in)
    input_advance = amap.period_in * period // amap.period_out
    shift = field.shift * input_advance // field.period
    parts = []
    for o in range(period):
        sliding = still = None
        for i in amap.inputs_of(o):
            # the taps of o + q·period are these shifted by q·input_advance, a whole number of
            # the input's periods: same residues (same fixed parts), sliding parts q·shift on
            sliding = _join(sliding, field.sliding(i))
            still = _join(still, field.fixed[i % field.period])
        parts.append((sliding, still))
    return _assembled(period, shift, parts)


def per_axis(rule, arguments) -> list[Field]:
    """[rule(*args) for args in arguments], with an axis whose arguments equal the previous
    axis's given that axis's very Field: a square network's H and W fields are equal, so each is
    worked out once, and its size, jump and start are then worked out once too."""
    out, previous = [], None
    for args in arguments:
        out.append(out[-1] if args == previous else rule(*args))
        previous = args
    return out


class MisalignedFields(Exception):
    """Merged branches whose outputs advance by different strides through the input."""


def union(fields: list[Field], broadcast: list[Field]) -> Field:
    """Fields at a merge: per position, the union of the inputs' fields. `broadcast` inputs
    (spatial size 1 against a larger tensor) add their single field to every position, as a
    fixed part: it does not move with the output."""
    first = fields[0]
    if any(f.shift * first.period != first.shift * f.period for f in fields):  # jumps differ
        raise MisalignedFields(" vs ".join(fraction_text(j) for j in sorted({f.jump for f in fields})))
    period = 1
    for f in fields:
        period = period * f.period // gcd(period, f.period)
    shift = first.shift * period // first.period  # exact: first.period divides period
    gate = None
    for f in broadcast:
        gate = _join(gate, f.bounds(0))
    parts = []
    for o in range(period):
        sliding, still = None, gate
        for f in fields:
            sliding = _join(sliding, f.sliding(o))
            still = _join(still, f.fixed[o % f.period])
        parts.append((sliding, still))
    return _assembled(period, shift, parts)


def _assembled(period: int, shift: int, parts: list) -> Field:
    """The Field whose residue r has the sliding part parts[r][0] and the fixed part
    parts[r][1] (either may be None), at its smallest period."""
    los = tuple(None if sliding is None else sliding[0] for sliding, _ in parts)
    his = tuple(None if sliding is None else sliding[1] for sliding, _ in parts)
    return _reduced(Field(period, shift, los, his, tuple(still for _, still in parts)))


def _reduced(field: Field) -> Field:
    """The same field with the smallest period (keeps periods from growing along a U-Net's
    upsampling path)."""
    period, shift = field.period, field.shift
    if period == 1:
        return field
    lo, hi, fixed = list(field.lo), list(field.hi), list(field.fixed)
    p = 2
    while p <= period:
        if period % p == 0 and shift % p == 0:
            short, step = period // p, shift // p
            if all(_advance(lo[r], step) == lo[r + short] and _advance(hi[r], step) == hi[r + short]
                   and fixed[r] == fixed[r + short] for r in range(period - short)):
                period, shift, lo, hi, fixed = short, step, lo[:short], hi[:short], fixed[:short]
                continue
        p += 1
    return Field(period, shift, tuple(lo), tuple(hi), tuple(fixed))


def _advance(value, step):
    return None if value is None else value + step
