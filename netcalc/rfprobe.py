"""Receptive fields measured by the executor's own backward pass (`netcalc verify --rf`).

Two probes, compared the same way (steps 3–4 below):

- the support probe (the default, `support_reach`): backward only, boolean arrays, through each
  layer type's `support` (its executor kernels on one channel standing for all; see
  LayerType.support), each layer at the smallest input that holds its field (`_support_groups`).
  In probe mode every stand-in is linear with positive weights on positive values, so whether a
  gradient entry is nonzero does not depend on any value: propagating only the support is exact
  (tests/test_rf_probes.py compares it with the float probe on 200 random specs).
  What makes it cheap, chosen by profiling (DenseNet-121 took 56 s, 85 % of it in the conv
  support's im2col product with a kernel of ones and col2im's scatter of it): convs and pooling
  scatter dY itself through col2im's `_scatter_windows` on booleans (OR), one axis at a time (a
  kernel of ones is an outer product, so its adjoint is the product of per-axis adjoints);
  transposed convs gather per axis; upsampling ORs its plan with reduceat; a gradient whose
  channels are all alike again collapses to one channel; slice and channel_shuffle run their
  backward without a forward; ORs go in place into arrays the walk owns; each seed's reach is cut
  down to its extents as soon as it is found. Not chosen: a window around each probed unit (the
  probe input is already only as large as the field, so it would save little, and every type
  would need a windowed kernel with exact borders), and per-axis 1-D probing (a path whose field
  is empty along one axis contributes nothing along the others, which 1-D probes cannot see).
- the float probe (`--probe float`, `float_reach`), the reference, described here:

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

A field that reaches past the probe input (global pooling: the whole input plus padding; a
squeeze-excitation gate; any wide field when a fixed-size layer prevents enlarging) cannot be
measured whole; the row says "clipped". Per probed unit and axis, each END of the calculated
field that lies inside the input must be measured exactly: the end of a hull is a tap of some
path, every tap on a path of real pixels carries a positive gradient, and padding (never a tap)
lies past the input's ends along a conv/pool chain. After a transposed conv's inserted zeros or
crop that can fail: the padding past a map can be given the field of a real pixel no output
reads (contract §5 counts padding positions), which no probe sees; `_ends_are_taps` finds such
layers, whose ends are then compared as bounds only. An end past the input only bounds the
measured extent (a dilated field is sparse: the taps left inside may span less). A calculated
field with no tap inside the input must measure nothing (`_clipped_ends`).

A field with a fixed part (after a squeeze-excitation gate) is clipped on both sides, which would
hide a sliding part that is too wide. The support probe measures its sliding part alone as well:
a second walk passes no gradient into the broadcast inputs of merges (`_gate_edges`: the inputs
whose field rf.union keeps as the fixed part), at an input that holds the probed units' sliding
parts, and compares each unit's measured extent with Field.sliding end by end as above. Where
some merge input broadcasts along some axes only, the parts cannot be separated this way and the
second walk is skipped.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from fractions import Fraction
from math import lcm, prod

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
    exact_ends: int | None = None  # clipped: of the probed fields' ends, those inside the input,
    total_ends: int | None = None  # compared exactly (the others bound the measured extents)
    sliding_exact_ends: int | None = None  # a fixed part's layer: sliding-part ends compared exactly

    def to_dict(self) -> dict:
        def nums(values):
            return None if values is None else [float(v) if isinstance(v, Fraction) else v for v in values]

        return {"layer": self.layer, "status": self.status, "clipped": self.clipped,
                "exact_ends": self.exact_ends, "total_ends": self.total_ends,
                "sliding_exact_ends": self.sliding_exact_ends,
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
    """Seed units (ks, u): u0 near the centre with a non-empty field on every axis, then the
    diagonal u0 + k·(1, …, 1) for k = 1 … P (P the largest period). Along an axis of period p the
    units k < p cover one period (the size) and k, k + p are one period apart (the jump; u0 + p·e
    is in u0's residue class, so its field is non-empty too). ks[a] = k, or None where axis a is
    too short and the unit is held at its last output (it then measures nothing along a, but is
    still compared in place)."""
    u0 = []
    for f, m in zip(field_list, spatial_out):
        c = max(0, (m - 2 * f.period) // 2)
        while c < m - 1 and f.bounds(c) is None:
            c += 1
        u0.append(c)
    units = []
    for k in range(max(f.period for f in field_list) + 1):
        ks = tuple(k if c + k < m else None for c, m in zip(u0, spatial_out))
        if k == 0 or any(x is not None for x in ks):
            units.append((ks, tuple(min(c + k, m - 1) for c, m in zip(u0, spatial_out))))
    return units


PROBES = ("support", "float")


def measure(analysis: Analysis, memory_limit: int | None = None, on_layer=None, probe: str = "support") -> list[RFCheck]:
    """Measure every spatial layer's rf and compare with the calculation: with the support probe
    (the default, see the module docstring) or the float probe (the executor's own float32
    backward at full channels: the reference)."""
    if len(analysis.graph.input_shape) < 2:
        return []
    original = {layer.name: layer for layer in analysis.layers}
    checks = {}
    groups = _float_groups(analysis, memory_limit) if probe == "float" else _support_groups(analysis)
    for big, names in groups:
        layers = {layer.name: layer for layer in big.layers}
        spatial = big.graph.input_shape[1:]
        plans = {name: _units(layers[name].rf.fields, layers[name].node.spatial_out) for name in names}
        targets = {name: list(dict.fromkeys(u for _, u in units)) for name, units in plans.items()}
        if probe == "float":
            reach = {name: [_extents(mask) for mask in masks]
                     for name, masks in float_reach(big.graph, targets, memory_limit).items()}
        else:
            reach = support_reach(big.graph, targets, memory_limit, reduce=_extents)
        # Fields with a fixed part (after a squeeze-excitation gate) usually span the input: the
        # support probe measures their sliding part alone too, with the gates cut off
        fixed = [name for name in names if any(f.hull is not None for f in layers[name].rf.fields)]
        cut = _gate_edges(big.graph) if fixed and probe == "support" else None
        sliding = {} if cut is None else support_reach(big.graph, {n: targets[n] for n in fixed}, memory_limit, cut,
                                                       reduce=_extents)
        taps = _ends_are_taps(big)
        for name in names:
            by_unit = dict(zip(targets[name], reach[name]))
            alone = dict(zip(targets[name], sliding[name])) if name in sliding else None
            checks[name] = _check_layer(layers[name], original[name].rf, plans[name], by_unit, spatial, alone,
                                        exact=taps[name])
    out = []
    for layer in analysis.layers:
        if layer.name in checks:
            out.append(checks[layer.name])
        if on_layer is not None:
            on_layer(layer.node)
    return out


# ---- the float probe (the reference): one enlarged input, the executor's forward and backward ----

def _float_groups(analysis: Analysis, memory_limit):
    graph, _ = enlarged_graph(analysis)
    big = analyze_graph(graph)
    return [(big, [layer.name for layer in big.layers if layer.rf is not None])]


def float_reach(graph, targets: dict, memory_limit: int | None = None) -> dict:
    """{layer: bool array (len(units), *input spatial)}: where the float32 input gradient of a
    seed at every channel of each unit is nonzero, by the executor in probe mode."""
    from netcalc.executor import Executor, check_memory, default_memory_limit

    batch = max([len(units) for units in targets.values()] or [1])
    check_memory(graph, batch, 4, default_memory_limit() if memory_limit is None else memory_limit,
                 keep_all=True)
    ex = Executor(graph, dtype=np.float32, probe=True)
    x = ex.random_input(batch, positive=True)
    fwd = ex.forward(x, keep=True, _caches=True)
    out = {}
    for name, units in targets.items():
        # Only the first len(units) samples carry a seed: run the backward on that slice of the batch.
        n = len(units)
        part = dataclasses.replace(fwd, outputs={k: v[:n] for k, v in fwd.outputs.items()})
        seed = np.zeros_like(part.outputs[name])
        for j, u in enumerate(units):
            seed[(j, slice(None)) + u] = 1.0  # every channel of unit u: the position's whole field
        dx = ex.backward(x[:n], part, name, seed, weight_grads=False).input
        out[name] = np.any(dx != 0, axis=1)
    return out


# ---- the support probe: per layer an input just large enough, backward only, one channel ----

def _support_groups(analysis: Analysis):
    """[(analysis at a probe input, names of the layers probed there)]. A layer with a local field
    is probed at the smallest input, grown or shrunk from the spec's by a multiple of
    `stride_step` on each side, at which its calculated size and jump are the spec's and its
    probed units' calculated fields lie inside the input: as few pixels as its field needs. The
    others (fields that span the input) are probed at the spec's own input."""
    spec = analysis.graph.spec
    n0 = spec.input_shape[1:]
    step = stride_step(analysis)
    zero = (0,) * len(n0)
    built = {zero: analysis}

    def at(margins):
        if margins not in built:
            shape = (spec.input_shape[0], *(n + 2 * m for n, m in zip(n0, margins)))
            try:
                built[margins] = analyze_graph(build_graph(dataclasses.replace(spec, input_shape=shape)))
            except SpecError:  # too small for some layer, or a fixed-size layer that cannot take it
                built[margins] = None
        return built[margins]

    taps_at = {}

    def _taps(big):  # whether the ends of each layer's field are real taps at this input (cached)
        if id(big) not in taps_at:
            taps_at[id(big)] = _ends_are_taps(big)
        return taps_at[id(big)]

    groups: dict[tuple, list[str]] = {}
    for layer in analysis.layers:
        if layer.rf is None:
            continue
        chosen = zero
        gated = not layer.node.kind.field_spans_input and not _local(layer)  # a fixed part (a gate's)
        if _local(layer) or gated:
            # from the first multiple of the step that holds the field, one step at a time; a
            # gated field is as wide as the input whatever its size: there its sliding part must
            # fit (it is measured alone too), from the spec's input on
            margins = zero if gated else tuple(-((n - (s or 1)) // 2 // st) * st
                                               for s, n, st in zip(layer.rf.size, n0, step))
            for _ in range(32):
                big = at(margins)
                probed = None if big is None else _find(big, layer.name)
                if (probed is not None and probed.rf is not None
                        and (gated or list(probed.rf.size) == list(layer.rf.size))
                        and list(probed.rf.jump) == list(layer.rf.jump)
                        and _fits(probed, big.graph.input_shape[1:], sliding=gated,
                                  inset=() if _taps(big)[layer.name] else step)):
                    chosen = margins
                    break
                margins = tuple(m + st for m, st in zip(margins, step))
        groups.setdefault(chosen, []).append(layer.name)
    return [(at(margins), names) for margins, names in groups.items()]


def _find(analysis: Analysis, name: str):
    return next((layer for layer in analysis.layers if layer.name == name), None)


def stride_step(analysis: Analysis) -> list[int]:
    """Per axis, the lcm of every local layer's cumulative stride (the numerator of its jump):
    growing the input by a multiple of it on each side grows every layer's output by a whole
    number, so floors, ceil_mode and the equal sizes a U-Net's concats need stay as they are."""
    steps = [1] * (len(analysis.graph.input_shape) - 1)
    for layer in analysis.layers:
        if layer.rf is not None and _local(layer):
            for axis, jump in enumerate(layer.rf.jump):
                steps[axis] = lcm(steps[axis], Fraction(jump).numerator)
    return steps


def _round_up(value: int, step: int) -> int:
    return -(-value // step) * step


def _fits(layer, spatial, sliding: bool = False, inset=()) -> bool:
    """Whether the layer has outputs enough for every probed unit (so its jump is measurable) and
    their calculated fields (with `sliding`, their sliding parts) lie inside the input, `inset`
    pixels (per axis) from its edges: where an extrapolated padding position upstream can stand
    for a real pixel no output reads (_ends_are_taps), the step of the cumulative strides keeps
    the probed units off the rows the strides drop."""
    units = _units(layer.rf.fields, layer.node.spatial_out)
    part = (lambda f, o: f.sliding(o)) if sliding else (lambda f, o: f.bounds(o))
    inset = inset or (0,) * len(spatial)
    return (None not in units[-1][0] and len(units) == 1 + max(f.period for f in layer.rf.fields)
            and all(part(f, o) is None or (part(f, o)[0] >= m and part(f, o)[1] <= n - 1 - m)
                    for _, u in units for f, o, n, m in zip(layer.rf.fields, u, spatial, inset)))


# Bytes the support probe's arrays may take at once (per chunk of seeds)
SUPPORT_BUDGET_BYTES = 256 * 2 ** 20


def _gate_edges(graph) -> set | None:
    """{(node, input index)} of every broadcast input of a merge (spatial size 1 on every axis
    where the output has more: a squeeze-excitation gate), whose field the calculation keeps as
    the fixed part (rf.union); None when some merge input broadcasts along some axes but not
    others (its part would be fixed along one axis and sliding along another: cutting it would
    not measure the sliding part alone)."""
    edges = set()
    for node in graph.nodes:
        if len(node.inputs) < 2 or len(node.out_shape) < 2:
            continue
        wide = {a for a, n in enumerate(node.spatial_out) if n > 1}
        for i, shape in enumerate(node.in_shapes):
            flat = {a for a, n in enumerate(shape[1:]) if n == 1} & wide
            if flat and flat != wide:
                return None
            if flat:
                edges.add((node.name, i))
    return edges


def support_reach(graph, targets: dict, memory_limit: int | None = None, cut: set = frozenset(),
                  reduce=None) -> dict:
    """{layer: bool array (len(units), *input spatial)}: where the gradient of a seed at every
    channel of each unit reaches the input, by a backward walk of boolean arrays through each
    layer type's `support` (no forward pass), passing nothing along the `cut` edges. Seeds share
    walks, one batch entry each, in chunks that keep the arrays under SUPPORT_BUDGET_BYTES (a
    layer with a long period, such as an upsample to a fixed size, may spread its units over
    several chunks). With `reduce`, {layer: [reduce(mask) per unit]}: each mask is dropped as soon
    as it is reduced (`measure` keeps only extents, not a probe-input-sized mask per unit)."""
    from netcalc.layers.base import RunContext
    from netcalc.units import DEFAULT_WORKSPACE_BYTES

    ctx = RunContext(max_workspace_bytes=DEFAULT_WORKSPACE_BYTES, weight_grads=False)
    index = {node.name: i for i, node in enumerate(graph.nodes)}
    largest = max(prod(shape[1:]) for shape in [graph.input_shape, *(n.out_shape for n in graph.nodes)])
    budget = SUPPORT_BUDGET_BYTES if memory_limit is None else min(SUPPORT_BUDGET_BYTES, memory_limit // 4)
    batch = max(1, min(64, budget // (16 * largest)))  # ~16 live one-channel bool arrays per seed
    seeds = [(name, u) for name in sorted(targets, key=index.__getitem__) for u in targets[name]]
    parts = {name: [] for name in targets}
    for start in range(0, len(seeds), batch):
        chunk = seeds[start:start + batch]
        for (name, _), reach in zip(chunk, _support_walk(graph, index, chunk, ctx, cut)):
            parts[name].append(reach if reduce is None else reduce(reach))
    if reduce is not None:
        return parts
    return {name: np.stack(found) if found else np.zeros((0, *graph.input_shape[1:]), bool)
            for name, found in parts.items()}


def _support_walk(graph, index, seeds: list, ctx, cut=frozenset()) -> np.ndarray:
    """Bool array (len(seeds), *input spatial): where each (layer, unit) seed's gradient reaches,
    passing no gradient along the `cut` edges (node, input index)."""
    at = {}
    for j, (name, u) in enumerate(seeds):
        at.setdefault(name, []).append((j, u))
    grads, owned = {}, set()  # owned: gradients this walk allocated (an OR may go in place)
    for node in reversed(graph.nodes[:max(index[name] for name in at) + 1]):
        dy = grads.pop(node.name, None)
        if dy is not None and dy.shape[1] > 1 and (dy == dy[:, :1]).all():
            dy = dy[:, :1]  # channels alike again (ShuffleNet's two slices of one tensor): one stands for all
        if node.name in at:
            seed = np.zeros((len(seeds), 1, *node.spatial_out), bool)  # one channel standing for all
            for j, u in at[node.name]:
                seed[(j, 0) + u] = True
            dy = seed if dy is None else dy | seed
        if dy is None:
            continue  # feeds none of the seeds
        for i, (name, dx) in enumerate(zip(node.inputs, node.kind.support(node, dy, ctx))):
            if (node.name, i) in cut:
                continue
            if dx.dtype != bool:
                dx = dx > 0
            if name not in grads:
                grads[name] = dx  # may be dy itself, or shared with another input: not written into
            elif name in owned and grads[name].shape == np.broadcast_shapes(grads[name].shape, dx.shape):
                grads[name] |= dx
            else:
                grads[name] = grads[name] | dx
                owned.add(name)
    if "input" not in grads:
        return np.zeros((len(seeds), *graph.input_shape[1:]), bool)
    return grads["input"].any(axis=1)


def _check_layer(layer, orig, units, reach, big_spatial, alone=None, exact: bool = True) -> RFCheck:
    """Compare one layer's measured fields (reach: unit → per axis the measured [lo, hi], None
    where nothing is reached) with the calculated ones; and, given `alone` (the same with every
    gate cut off),
    each probed unit's measured sliding part with the calculated one (the ends inside the input
    exactly, as for clipped fields). exact=False: no end is compared exactly (_ends_are_taps)."""
    check = _compare_fields(layer, orig, units, reach, big_spatial, exact)
    if alone is not None:
        ends = [end for _, u in units
                for end in _unit_ends(alone[u], [f.sliding(o) for f, o in zip(layer.rf.fields, u)], big_spatial,
                                      exact)]
        exact = sum(e for e, _ in ends)
        check.sliding_exact_ends = exact
        if check.clipped:
            check.exact_ends += exact
            check.total_ends += 2 * len(ends)
        _note(check, f"its sliding part (gates cut off) measured alone: {exact} of {2 * len(ends)} ends exact")
        if not all(ok for _, ok in ends):
            check.status = "mismatch"
    return check


def _compare_fields(layer, orig, units, reach, big_spatial, exact: bool = True) -> RFCheck:
    """The comparison of the whole fields (see the module docstring, steps 3–4 and the clipped
    case)."""
    name, rf = layer.name, layer.rf
    check = RFCheck(name, "ok", expected_size=list(rf.size), expected_jump=list(rf.jump))
    if orig is None or list(orig.size) != list(rf.size) or list(orig.jump) != list(rf.jump):
        check.note = f"field depends on the input size: compared at the enlarged input {list(big_spatial)}"
    # extents[j][a]: [lo, hi] of unit j's measured field along axis a (None: no support)
    extents = [reach[u] for _, u in units]
    expected = [[_clip(f.bounds(o), n) for f, o, n in zip(rf.fields, u, big_spatial)] for _, u in units]
    clipped = any(_clip(f.bounds(o), n) != f.bounds(o)
                  for _, u in units for f, o, n in zip(rf.fields, u, big_spatial))
    if clipped:
        # The field reaches past the input (global pooling, a squeeze-excitation gate, a dilated
        # conv wider than a fixed-size input). Per probe and axis, each END of the calculated field
        # that lies inside the input must be measured exactly (the end of a hull is a tap, read
        # with a positive gradient); an end past the input can only bound the measured one.
        check.clipped = True
        ends = [end for ms, (_, u) in zip(extents, units)
                for end in _unit_ends(ms, [f.bounds(o) for f, o in zip(rf.fields, u)], big_spatial, exact)]
        exact = sum(e for e, _ in ends)
        check.exact_ends, check.total_ends = exact, 2 * len(ends)
        _note(check, f"field wider than the probe input: {exact} of {2 * len(ends)} field ends inside it "
                     "compared exactly, the others as bounds")
        if not all(ok for _, ok in ends):
            check.status = "mismatch"
        return check
    support = {(axis, k): extents[j][axis] for j, (ks, _) in enumerate(units)
               for axis, k in enumerate(ks) if k is not None}
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
        _note(check, "empty field (reads only inserted zeros): size checked, jump not measurable")
    elif any(fixed):
        _note(check, "fixed part (squeeze-excitation gate): each probe's field compared in place")
    elif any(moot):
        _note(check, "fewer than period + 1 outputs: size checked, jump not measurable")
    return check


def _note(check: RFCheck, text: str) -> None:
    check.note = f"{check.note}; {text}" if check.note else text


def _extents(mask) -> list:
    """Per axis, (first, last) index where the boolean mask has a True, or None where it has none."""
    out = []
    for axis in range(mask.ndim):
        line = mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis))
        out.append((int(line.argmax()), len(line) - 1 - int(line[::-1].argmax())) if line.any() else None)
    return out


def _unit_ends(measured: list, calculated: list, spatial, exact: bool = True) -> list[tuple[int, bool]]:
    """_clipped_ends on every axis of one probed unit. A pixel is reached only through a tap on
    every axis: where the calculated field has no tap inside the input along one axis (empty: it
    reads only a transposed conv's inserted zeros; or wholly in padding), the unit reaches no
    pixel at all, and nothing may be measured along any axis."""
    if any(c is None or _clip(c, n) is None for c, n in zip(calculated, spatial)):
        return [(0, m is None) for m in measured]
    return [_clipped_ends(m, c, n, exact) for m, c, n in zip(measured, calculated, spatial)]


def _clipped_ends(measured, calculated, n, exact: bool = True) -> tuple[int, bool]:
    """(how many ends of the calculated field [lo, hi] are compared exactly, whether the measured
    extent agrees). The measured extent must lie within the field clipped to the input; with
    `exact`, an end inside the input must be measured exactly (see the module docstring; an end
    past the input only bounds the measured one: a dilated field is sparse, so the taps left
    inside may span less)."""
    if calculated is None or _clip(calculated, n) is None:
        return 0, measured is None  # no tap inside the input: nothing may be measured
    inside = (exact and calculated[0] >= 0, exact and calculated[1] <= n - 1)
    if measured is None:
        return sum(inside), not any(inside)
    lo, hi = _clip(calculated, n)
    lo_ok = measured[0] == lo if inside[0] else measured[0] >= lo
    hi_ok = measured[1] == hi if inside[1] else measured[1] <= hi
    return sum(inside), lo_ok and hi_ok and measured[0] <= measured[1]


def _ends_are_taps(analysis: Analysis) -> dict:
    """{layer: whether an end of its calculated field that lies inside the input is a pixel it
    really reads}. The calculation counts padding positions (contract §5): a layer reading past
    the end of its input map gets the field that position WOULD have, extrapolated. Along a
    conv/pool chain that lies past the input's own ends (the first window past the last output
    ends past the input), so it can only widen a clipped end. After a transposed conv's inserted
    zeros or crop, or a stride that drops a transposed conv's last output, the extrapolated field
    of a position just past a map can be a real pixel that no real output reads. So: True where
    no layer upstream has such a position (per axis, one period past each end, its sliding part
    must lie past the input on that side or be empty)."""
    spatial = analysis.graph.input_shape[1:]
    fits = {}
    for layer in analysis.layers:
        node, rf = layer.node, layer.rf
        own = rf is None or all(
            f.period <= m
            and all(f.sliding(o) is None or f.sliding(o)[1] >= n for o in range(m, m + f.period))
            and all(f.sliding(o) is None or f.sliding(o)[0] < 0 for o in range(-f.period, 0))
            for f, m, n in zip(rf.fields, node.spatial_out, spatial))
        fits[layer.name] = own, all(fits[i][0] and fits[i][1] for i in node.inputs if i in fits)
    return {name: upstream for name, (_, upstream) in fits.items()}


def _clip(bounds, n):
    if bounds is None:
        return None
    lo, hi = max(bounds[0], 0), min(bounds[1], n - 1)
    return (lo, hi) if lo <= hi else None
