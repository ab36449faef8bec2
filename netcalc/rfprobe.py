"""Receptive fields measured by the executor's own backward pass (`netcalc verify --rf`).

Method. The field of output unit u is the set of input pixels its value depends on, i.e. the
support of d y[u] / d x. We measure it directly:

1. Enlarge the input by a margin M on both sides of every spatial axis (M = the largest
   calculated rf size along that axis over layers with local fields, at least 1), so that central units' fields are not
   clipped by the image border; rebuild the graph and its analysis at that input size.
2. Run forward in float32 in *probe mode* (Executor(probe=True)): all weights in [0.5, 1.5]/fan_in
   with biases in [0.5, 1.5] (an output that only inserted zeros reach is then not exactly 0, so
   a gate multiplied into it keeps its gradient), batchnorm with zero mean and shift, input in
   [0.5, 1.5]; each layer type whose gradient would reach only part of what it reads declares a
   stand-in (`LayerType.probe`): max pooling (and adaptive max, spp) an average over exactly the
   same window/bins, activations and softmax a pass-through. So every tap a layer reads carries a strictly
   positive gradient and nothing cancels; the geometry (kernels, strides, dilations, pads,
   ceil_mode, bins, interpolation taps) is the registry's own. Every value and gradient is a
   sum of positive terms of order one (weights are normalised by fan-in), so float32 cannot
   turn a nonzero into zero; it halves the memory and time of float64.
3. For each layer with spatial dims, one backward pass with a batch of seeds at units
   u0 + k·e_a, k = 0 … p_a along each axis a (p_a = the field's period, 1 on conv/pool chains,
   > 1 after transposed convs and upsampling). Each seed is 1 at EVERY channel of its unit and 0
   elsewhere: the field of a position is the union over all its channels (contract §5), and
   channels may come from different inputs (concat) or be routed differently (channel shuffle,
   slice). Seeding one channel would measure only the field of the branch that channel came
   from. As every path's gradient is positive, the sum over channels cancels nothing, so its
   support is exactly the union of the channels' supports. Sample j of the input gradient is
   unit j's field; its nonzero extent projected on axis a gives [lo, hi].
4. Measured size = max (hi − lo + 1) over one period; measured jump = (lo(u + p) − lo(u)) / p.
   Both are compared with the calculated size and jump at the enlarged input (which equal
   the ones at the spec's own input except for layers whose fields depend on the input size:
   global/adaptive pooling, upsampling to a fixed size; those rows say so).

A field that reaches past the enlarged input (global pooling: the whole input plus padding; a
squeeze-excitation gate; any wide field when a fixed-size layer prevents enlarging) cannot be
measured unclipped. For those layers every probe's measured extent [lo, hi] per axis must lie
within its calculated field clipped to the input, and the row says "clipped".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from netcalc.analysis import Analysis, analyze_graph
from netcalc.errors import SpecError
from netcalc.graph import build_graph


@dataclass
class RFCheck:
    layer: str
    status: str  # "ok" or "mismatch"
    measured_size: list | None = None
    measured_jump: list | None = None
    expected_size: list | None = None
    expected_jump: list | None = None
    note: str = ""
    clipped: bool = False  # compared as clipped extents, not as size/jump

    def to_dict(self) -> dict:
        def nums(values):
            return None if values is None else [float(v) if isinstance(v, Fraction) else v for v in values]

        return {"layer": self.layer, "status": self.status, "clipped": self.clipped,
                "measured": {"size": nums(self.measured_size), "jump": nums(self.measured_jump)},
                "calculated": {"size": nums(self.expected_size), "jump": nums(self.expected_jump)},
                "note": self.note}


def enlarged_graph(analysis: Analysis):
    """The graph at an input grown by the largest calculated rf size on each side of each axis."""
    spec = analysis.graph.spec
    shape = list(spec.input_shape)
    margins = []
    for axis in range(len(shape) - 1):
        sizes = [layer.rf.size[axis] for layer in analysis.layers
                 if layer.rf is not None and layer.rf.size[axis] is not None and _local(layer)]
        margins.append(max([1, *sizes]))
    big = (shape[0], *(n + 2 * m for n, m in zip(shape[1:], margins)))
    try:
        graph = build_graph(dataclasses.replace(spec, input_shape=big))
    except SpecError:  # e.g. a fixed-size layer that cannot take the larger input
        return analysis.graph, tuple(shape[1:])
    return graph, big[1:]


def _local(layer) -> bool:
    """False for fields that cover the whole input anyway (global/adaptive pooling, a broadcast
    squeeze-excitation gate): growing the input cannot unclip them, so they set no margin."""
    return not layer.node.kind.field_spans_input and all(f.hull is None for f in layer.rf.fields)


def _units(field_list, spatial_out):
    """Seed units: u0 near the centre with a non-empty field on every axis, then u0 + k·e_a for
    k = 1 … period (u0 + period·e_a is in u0's residue class, so its field is non-empty too)."""
    u0 = []
    for f, m in zip(field_list, spatial_out):
        c = max(0, (m - 2 * f.period) // 2)
        while c < m - 1 and f.bounds(c) is None:
            c += 1
        u0.append(c)
    units = []
    for axis, (f, m) in enumerate(zip(field_list, spatial_out)):
        for k in range(f.period + 1):  # one period for the size, + the unit one period on for the jump
            u = list(u0)
            u[axis] += k
            if u[axis] < m:
                units.append((axis, k, tuple(u)))
    return units


def measure(analysis: Analysis, memory_limit: int | None = None, on_layer=None) -> list[RFCheck]:
    """Measure every spatial layer's rf with the executor and compare with the calculation.
    Refuses (SpecError) before allocating when the probe pass would exceed memory_limit."""
    from netcalc.executor import Executor, check_memory, default_memory_limit

    if len(analysis.graph.input_shape) < 2:
        return []
    graph, big_spatial = enlarged_graph(analysis)
    big = analyze_graph(graph)
    original = {layer.name: layer for layer in analysis.layers}
    plans = {}
    for layer in big.layers:
        if layer.rf is not None:
            plans[layer.name] = _units(layer.rf.fields, layer.node.spatial_out)
    batch = max([len(u) for u in plans.values()] or [1])
    check_memory(graph, batch, 4, default_memory_limit() if memory_limit is None else memory_limit,
                 keep_all=True)
    ex = Executor(graph, dtype=np.float32, probe=True)
    x = ex.random_input(batch, positive=True)
    fwd = ex.forward(x, keep=True, _caches=True)
    checks = []
    for layer in big.layers:
        if layer.rf is not None:
            checks.append(_check_layer(layer, original[layer.name].rf, plans[layer.name], ex, x, fwd,
                                       big_spatial))
        if on_layer is not None:
            on_layer(layer.node)
    return checks


def _check_layer(layer, orig, units, ex, x, fwd, big_spatial) -> RFCheck:
    name, rf = layer.name, layer.rf
    check = RFCheck(name, "ok", expected_size=list(rf.size), expected_jump=list(rf.jump))
    if orig is None or list(orig.size) != list(rf.size) or list(orig.jump) != list(rf.jump):
        check.note = f"field depends on the input size: compared at the enlarged input {list(big_spatial)}"
    # Only the first len(units) samples carry a seed: run the backward on that slice of the batch.
    n = len(units)
    part = dataclasses.replace(fwd, outputs={k: v[:n] for k, v in fwd.outputs.items()})
    seed = np.zeros_like(part.outputs[name])
    for j, (_, _, u) in enumerate(units):
        seed[(j, slice(None)) + u] = 1.0  # every channel of unit u: the position's whole field
    dx = ex.backward(x[:n], part, name, seed, weight_grads=False).input
    # extents[j][a]: [lo, hi] of unit j's measured field along axis a (None: no support)
    extents = []
    for j in range(len(units)):
        nz = np.nonzero(np.any(dx[j] != 0, axis=0))
        extents.append([None if nz[0].size == 0 else (int(c.min()), int(c.max())) for c in nz])
    expected = [[_clip(f.bounds(o), n) for f, o, n in zip(rf.fields, u, big_spatial)] for _, _, u in units]
    clipped = any(_clip(f.bounds(o), n) != f.bounds(o)
                  for _, _, u in units for f, o, n in zip(rf.fields, u, big_spatial))
    if clipped:
        # The field reaches past the input (global pooling, a squeeze-excitation gate, a dilated
        # conv wider than a fixed-size input): every probe's measured extent must lie within its
        # calculated field clipped to the input. Equality would be wrong: a dilated field is
        # sparse, so the taps left inside the input can span less than the clipped hull.
        check.clipped = True
        check.note = "field wider than the probe input: measured extents lie within the clipped fields"
        inside = all(m is None or (e is not None and e[0] <= m[0] and m[1] <= e[1])
                     for ms, es in zip(extents, expected) for m, e in zip(ms, es))
        if not inside:
            check.status = "mismatch"
        return check
    support = {(axis, k): extents[j][axis] for j, (axis, k, _) in enumerate(units)}
    sizes, jumps = [], []
    for axis, f in enumerate(rf.fields):
        p = f.period
        found = [support.get((axis, k)) for k in range(p)]
        sizes.append(max([b[1] - b[0] + 1 for b in found if b], default=None))
        jump = None
        for k in range(p):
            a, b = support.get((axis, k)), support.get((axis, k + p))
            if a and b:
                jump = Fraction(b[0] - a[0], p)
                break
        jumps.append(jump)
    check.measured_size, check.measured_jump = sizes, jumps
    # An empty field (every output reads only the zeros a transposed conv inserted) has no
    # support to measure a jump from: there the sizes must both be empty and the jump is moot.
    # With fewer than period + 1 outputs along an axis (a 1×1 pooled map) there is no pair of
    # units one period apart either: the jump is not measurable there.
    # A field with a fixed part (a squeeze-excitation gate's, which does not move with the
    # output) is not periodic: its size is reached at the first or last output, which are not
    # probed, and its extents may not move at all between units. On such an axis each probed
    # unit's field is compared in place (below), not its size or jump.
    empty = [size is None for size in rf.size]
    fixed = [f.hull is not None for f in rf.fields]
    moot = [e or j is None or x for e, j, x in zip(empty, jumps, fixed)]
    wrong_size = any(s != e for s, e, x in zip(sizes, rf.size, fixed) if not x)
    wrong_jump = any(j != e for j, e, m in zip(jumps, rf.jump, moot) if not m)
    # Every probed unit's measured [lo, hi] must be its calculated field, in place: a field of the
    # right size at the wrong place is wrong too.
    # A unit whose field is empty along one axis depends on no pixel at all.
    misplaced = any(ms != (es if None not in es else [None] * len(es)) for ms, es in zip(extents, expected))
    if wrong_size or wrong_jump or misplaced:
        check.status = "mismatch"
    if any(empty):
        check.note = "empty field (reads only inserted zeros): size checked, jump not measurable"
    elif any(fixed):
        check.note = "fixed part (squeeze-excitation gate): each probe's field compared in place"
    elif any(moot):
        check.note = "fewer than period + 1 outputs: size checked, jump not measurable"
    return check


def _clip(bounds, n):
    if bounds is None:
        return None
    lo, hi = max(bounds[0], 0), min(bounds[1], n - 1)
    return (lo, hi) if lo <= hi else None
