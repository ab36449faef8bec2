"""Exact receptive fields (contract §5).

Along one axis, the field of output o is [lo(o), hi(o)] in input-pixel coordinates. Every
layer netcalc knows maps output indices to input indices periodically (window.AxisMap), so
fields are periodic too: lo(o + period) = lo(o) + shift. A `Field` stores one period of lo
and hi exactly (integers), which covers conv/pool chains (period 1: the classic affine
arithmetic) and the staircases that transposed convs and upsampling create, with no
fractional-stride approximation. jump = shift / period.

A broadcast input at a merge (a squeeze-excitation gate of spatial size 1) contributes the
same field to every position; that constant part is kept apart as `hull`.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import gcd

from netcalc.units import fraction_text
from netcalc.window import AxisMap


@dataclass(frozen=True)
class Field:
    period: int
    shift: int
    lo: tuple  # per residue; None where the output reads nothing (an empty field)
    hi: tuple
    hull: tuple[int, int] | None = None

    @staticmethod
    def identity() -> "Field":
        """The network input: pixel i sees exactly [i, i]."""
        return Field(1, 1, (0,), (0,))

    @property
    def jump(self) -> Fraction:
        return Fraction(self.shift, self.period)

    def periodic_bounds(self, o: int) -> tuple[int, int] | None:
        """[lo(o), hi(o)] of the periodic part alone (without the broadcast hull)."""
        q, r = divmod(o, self.period)
        lo, hi = self.lo[r], self.hi[r]
        return None if lo is None else (lo + q * self.shift, hi + q * self.shift)

    def bounds(self, o: int) -> tuple[int, int] | None:
        """[lo(o), hi(o)] including the broadcast hull; None if empty."""
        lo, hi = self.periodic_bounds(o) or (None, None)
        if self.hull is not None:
            if lo is None:
                return self.hull
            return min(lo, self.hull[0]), max(hi, self.hull[1])
        return None if lo is None else (lo, hi)

    def size(self, n_out: int) -> int | None:
        """The largest hi − lo + 1 over the real outputs 0 … n_out − 1."""
        # Without a hull, hi − lo repeats with the period, so one period is enough.
        last = n_out if self.hull is not None else min(n_out, self.period)
        sizes = [b[1] - b[0] + 1 for b in map(self.bounds, range(last)) if b is not None]
        return max(sizes) if sizes else None

    def start(self) -> Fraction | None:
        b = self.bounds(0)
        return None if b is None else Fraction(b[0] + b[1], 2)


def through(field: Field, amap: AxisMap) -> Field:
    """The field after a layer that reads its input along this axis through `amap`."""
    # The new period must move the input by a whole number of the old periods.
    period = amap.period_out * field.period // gcd(field.period, amap.period_in)
    input_advance = amap.period_in * period // amap.period_out
    shift = field.shift * input_advance // field.period
    los, his = [], []
    for o in range(period):
        lo = hi = None
        for i in amap.inputs_of(o):
            q, r = divmod(i, field.period)
            if field.lo[r] is None:
                continue
            a, b = field.lo[r] + q * field.shift, field.hi[r] + q * field.shift
            lo = a if lo is None else min(lo, a)
            hi = b if hi is None else max(hi, b)
        los.append(lo)
        his.append(hi)
    return _reduced(Field(period, shift, tuple(los), tuple(his), field.hull))


class MisalignedFields(Exception):
    """Merged branches whose outputs advance by different strides through the input."""


def union(fields: list[Field], broadcast: list[Field]) -> Field:
    """Fields at a merge: per position, the union of the inputs' fields. `broadcast` inputs
    (spatial size 1 against a larger tensor) add their single field to every position."""
    jumps = {f.jump for f in fields}
    if len(jumps) > 1:
        raise MisalignedFields(" vs ".join(fraction_text(j) for j in sorted(jumps)))
    period = 1
    for f in fields:
        period = period * f.period // gcd(period, f.period)
    jump = jumps.pop()
    shift = jump * period
    assert shift.denominator == 1  # every input's period divides `period`
    los, his = [], []
    for o in range(period):
        bounds = [f.periodic_bounds(o) for f in fields]
        bounds = [b for b in bounds if b is not None]
        los.append(min(b[0] for b in bounds) if bounds else None)
        his.append(max(b[1] for b in bounds) if bounds else None)
    # The hull is the same for every position: the inputs' own hulls (an earlier gate, kept
    # constant, not shifted with the period) and the fields of the broadcast inputs.
    hull = None
    for b in [f.hull for f in fields] + [f.bounds(0) for f in broadcast]:
        if b is not None:
            hull = b if hull is None else (min(hull[0], b[0]), max(hull[1], b[1]))
    return _reduced(Field(period, int(shift), tuple(los), tuple(his), hull))


def _reduced(field: Field) -> Field:
    """The same field with the smallest period (keeps periods from growing along a U-Net's
    upsampling path)."""
    period, shift, lo, hi = field.period, field.shift, list(field.lo), list(field.hi)
    p = 2
    while p <= period:
        if period % p == 0 and shift % p == 0:
            short, step = period // p, shift // p
            if all(_advance(lo[r], step) == lo[r + short] and _advance(hi[r], step) == hi[r + short]
                   for r in range(period - short)):
                period, shift, lo, hi = short, step, lo[:short], hi[:short]
                continue
        p += 1
    return Field(period, shift, tuple(lo), tuple(hi), field.hull)


def _advance(value, step):
    return None if value is None else value + step
