"""Receptive fields against a brute-force reference.

The reference below pulls every output's field back to the input one index at a time, from
each layer's direct definition (which input indices an output reads; for a transposed conv,
which (input, tap) pairs land on it), with no periods, no fractions and nothing from
netcalc.window or netcalc.rf. Indices are not clipped: padding positions are part of the
lattice, as contract §5 says.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from math import ceil, floor

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from helpers import analyze_spec
from netcalc.errors import SpecError


def _window(p, o, default_stride):
    k, s, d = p.get("kernel", 1), p.get("stride", default_stride(p)), p.get("dilation", 1)
    return [o * s - p.get("padding", 0) + t * d for t in range(k)]


def _transposed(p, o, n_in, n_out):
    # input i adds into output i·s − pad + t·d: search every i that could reach o
    k, s, d, pad = p.get("kernel", 1), p.get("stride", 1), p.get("dilation", 1), p.get("padding", 0)
    return [i for i in range((o + pad - d * k) // s - 1, (o + pad) // s + 2)
            for t in range(k) if i * s - pad + t * d == o]


def _upsample(p, o, n_in, n_out):
    f = p["scale"]
    if p.get("mode", "nearest") == "nearest":
        return [floor(Fraction(o) / f)]
    if n_in == 1:  # PyTorch clamps both taps into the image: every real output reads pixel 0,
        return [floor(Fraction(o) / f)]  # and beyond the real outputs the lattice continues
    x = (o + Fraction(1, 2)) / f - Fraction(1, 2)
    return [floor(x)] if x == floor(x) else [floor(x), floor(x) + 1]


def _adaptive(p, o, n_in, n_out):
    m = p["out"]
    return list(range(floor(Fraction(o * n_in, m)), ceil(Fraction((o + 1) * n_in, m))))


def _pointwise(p, o, n_in, n_out):
    return [o]


# Per layer type, the input indices output o of a 1-D layer with raw parameters p reads (a merge:
# of each input, at the same position); None: the output is flat, there is no field. Every
# registered type needs an entry (tests/test_registry.py checks).
SOURCES = {
    "conv": lambda p, o, n_in, n_out: _window(p, o, lambda p: 1),
    "depthwise": lambda p, o, n_in, n_out: _window(p, o, lambda p: 1),
    "maxpool": lambda p, o, n_in, n_out: _window(p, o, lambda p: p.get("kernel", 1)),
    "avgpool": lambda p, o, n_in, n_out: _window(p, o, lambda p: p.get("kernel", 1)),
    "conv_transpose": _transposed,
    "upsample": _upsample,
    "adaptive_avgpool": _adaptive,
    "adaptive_maxpool": _adaptive,
    # one bin of the whole input (past the real outputs the lattice continues)
    "global_avgpool": lambda p, o, n_in, n_out: list(range(o * n_in, (o + 1) * n_in)),
    "global_maxpool": lambda p, o, n_in, n_out: list(range(o * n_in, (o + 1) * n_in)),
    "pixel_shuffle": lambda p, o, n_in, n_out: [o // p["factor"]],  # contract §7
    "flatten": None, "linear": None, "spp": None,
    **{name: _pointwise for name in ("relu", "relu6", "leaky_relu", "sigmoid", "tanh", "silu", "gelu", "hardswish",
                                     "hardsigmoid", "softmax", "identity", "dropout", "batchnorm", "lrn", "add", "mul", "concat")},
}

# contract §7 activations (issue 9): pointwise
SOURCES.update({name: _pointwise for name in ("hardtanh", "elu", "selu", "prelu", "mish", "softplus")})

# contract §7: normalisation statistics are constants for receptive fields, so the norms are
# pointwise like batchnorm; scale and drop_path are pointwise maps
SOURCES.update({name: _pointwise for name in ("layernorm", "groupnorm", "instancenorm", "scale", "drop_path")})



def _pad_before(p) -> int:
    padding = p["padding"]
    first = padding if isinstance(padding, int) else padding[0]
    return first if isinstance(first, int) else first[0]


# issue 9, the structural types (contract §7): pad reads coordinate o − before in every mode;
# pixel_unshuffle by r covers [r·o, r·o + r − 1]; a channel shuffle or slice moves no position
SOURCES.update({
    "pad": lambda p, o, n_in, n_out: [o - _pad_before(p)],
    "pixel_unshuffle": lambda p, o, n_in, n_out: list(range(p["factor"] * o, p["factor"] * (o + 1))),
    "channel_shuffle": _pointwise,
    "slice": _pointwise,
})

def sources(entry, o: int, n_in: int, n_out: int) -> list[int]:
    """Input indices that output o of this 1-D layer depends on."""
    (kind, p), = entry.items()
    return SOURCES[kind](p, o, n_in, n_out)


def brute_force(n_input: int, chain: list[dict], sizes: list[int]):
    """(field of output o) for the last layer, as a function, by recursive pulls."""

    @lru_cache(maxsize=None)
    def field(layer: int, o: int):
        if layer < 0:
            return (o, o)
        n_in = sizes[layer - 1] if layer else n_input
        bounds = [field(layer - 1, i) for i in sources(chain[layer], o, n_in, sizes[layer])]
        bounds = [b for b in bounds if b is not None]
        if not bounds:
            return None
        return min(b[0] for b in bounds), max(b[1] for b in bounds)

    return lambda o: field(len(chain) - 1, o)


def measured(n_input, chain, sizes, period_hint: int):
    field = brute_force(n_input, chain, sizes)
    n_out = sizes[-1]
    size = max(hi - lo + 1 for lo, hi in map(field, range(n_out)))
    lo0, hi0 = field(0)
    lo_m, hi_m = field(period_hint)
    jump = Fraction(lo_m + hi_m - lo0 - hi0, 2 * period_hint)
    return size, jump, Fraction(lo0 + hi0, 2)


layer_1d = st.one_of(
    st.builds(lambda k, s, d, p: {"conv": {"out": 1, "kernel": k, "stride": s, "dilation": d, "padding": p}},
              st.integers(1, 5), st.integers(1, 3), st.integers(1, 3), st.integers(0, 3)),
    st.builds(lambda k, s, p: {"maxpool": {"kernel": k, "stride": s, "padding": min(p, k // 2)}},
              st.integers(1, 4), st.integers(1, 3), st.integers(0, 2)),
    # k ≥ s so that every output is reached (the empty case has its own test)
    st.builds(lambda s, extra, p, d: {"conv_transpose": {"out": 1, "kernel": s + extra, "stride": s,
                                                         "padding": p, "dilation": d}},
              st.integers(1, 3), st.integers(0, 2), st.integers(0, 2), st.just(1)),
    st.builds(lambda f, mode: {"upsample": {"scale": f, "mode": mode}}, st.integers(2, 3),
              st.sampled_from(["nearest", "linear"])),
    st.builds(lambda m: {"adaptive_avgpool": {"out": m}}, st.integers(3, 12)),
)


def _period_hint(chain) -> int:
    """A multiple of the field's period: the product of every upsampling factor and adaptive
    output size (generous, which is fine for a reference)."""
    hint = 1
    for entry in chain:
        (kind, p), = entry.items()
        hint *= {"conv_transpose": p.get("stride", 1), "upsample": p.get("scale", 1),
                 "adaptive_avgpool": p.get("out", 1)}.get(kind, 1)
    return hint * 4


@settings(max_examples=150, deadline=None)
@given(chain=st.lists(layer_1d, min_size=1, max_size=5), n=st.integers(8, 40))
def test_rf_matches_brute_force_on_random_1d_chains(chain, n):
    try:
        analysis = analyze_spec([1, n], chain)
    except SpecError:
        assume(False)
    sizes = [layer.output[1] for layer in analysis.layers]
    size, jump, start = measured(n, chain, sizes, _period_hint(chain))
    last = analysis.layers[-1].rf
    assert last.size == [size]
    assert last.jump == [jump]
    assert last.start == [start]


@settings(max_examples=80, deadline=None)
@given(trunk=st.lists(layer_1d, max_size=2), ka=st.integers(0, 3), kb=st.integers(0, 3),
       da=st.integers(1, 3), db=st.integers(1, 3), n=st.integers(10, 30))
def test_rf_at_add_is_union_of_branches(trunk, ka, kb, da, db, n):
    # two size-preserving branches (odd kernel, 'same' padding) meet at an add
    branch_a = {"conv": {"out": 1, "kernel": 2 * ka + 1, "dilation": da, "padding": ka * da}}
    branch_b = {"conv": {"out": 1, "kernel": 2 * kb + 1, "dilation": db, "padding": kb * db}}
    spec = list(trunk) + [dict(branch_a, name="a"), dict(branch_b, name="b", **{"from": _last_name(trunk)}),
                          {"add": None, "from": ["a", "b"]}]
    try:
        analysis = analyze_spec([1, n], spec)
    except SpecError:
        assume(False)
    sizes = [layer.output[1] for layer in analysis.layers]
    trunk_sizes = sizes[:len(trunk)]
    hint = _period_hint(trunk)
    field_a = brute_force(n, trunk + [branch_a], trunk_sizes + [sizes[-1]])
    field_b = brute_force(n, trunk + [branch_b], trunk_sizes + [sizes[-1]])

    def union(o):
        (a0, a1), (b0, b1) = field_a(o), field_b(o)
        return min(a0, b0), max(a1, b1)

    size = max(hi - lo + 1 for lo, hi in map(union, range(sizes[-1])))
    rf = analysis.layers[-1].rf
    assert rf.size == [size]
    assert rf.start == [Fraction(sum(union(0)), 2)]
    assert rf.jump == [Fraction(sum(union(hint)) - sum(union(0)), 2 * hint)]


def _last_name(trunk):
    if not trunk:
        return "input"
    (kind, _), = trunk[-1].items()
    count = sum(1 for e in trunk if next(iter(e)) == kind)
    return f"{kind}{count}"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 7), st.integers(1, 3), st.integers(1, 3), st.booleans()),
                min_size=1, max_size=8))
def test_top_down_recursion_of_the_seed_notes_gives_the_size(layers):
    """seed: RF_(l−1) = (RF_l − 1)·stride + dilation·(kernel − 1) + 1, from the top down to the input."""
    chain = [{"conv": {"out": 1, "kernel": k, "stride": s, "dilation": d, "padding": d * (k - 1)}} if is_conv
             else {"maxpool": {"kernel": k, "stride": s, "padding": 0, "dilation": d}}
             for k, s, d, is_conv in layers]
    try:
        analysis = analyze_spec([1, 2000], chain)
    except SpecError:
        assume(False)
    rf = 1
    for k, s, d, _ in reversed(layers):
        rf = (rf - 1) * s + d * (k - 1) + 1
    assert analysis.layers[-1].rf.size == [rf]


def test_classic_arithmetic_by_hand():
    # conv k3 p1 → [−1, 1]: size 3, start 0; maxpool 2/2 → size 4, jump 2, start 0.5;
    # conv k3 p1 → size 4 + 2·2 = 8, start 0.5 + (1 − 1)·2 = 0.5
    a = analyze_spec([1, 32, 32], [{"conv": {"out": 1, "kernel": 3, "padding": 1}}, {"maxpool": {"kernel": 2}},
                                   {"conv": {"out": 1, "kernel": 3, "padding": 1}}])
    assert [(l.rf.size[0], l.rf.jump[0], l.rf.start[0]) for l in a.layers] == [
        (3, 1, 0), (4, 2, Fraction(1, 2)), (8, 2, Fraction(1, 2))]


def test_transposed_2x2_stride_2_does_not_grow_the_field():
    # contract §5: each output of a 2×2 stride-2 transposed conv sees exactly one input
    a = analyze_spec([1, 16, 16], [{"conv": {"out": 1, "kernel": 3, "stride": 2, "padding": 1}},
                                   {"conv_transpose": {"out": 1, "kernel": 2, "stride": 2}}])
    down, up = a.layers
    assert up.rf.size == down.rf.size == [3, 3]
    assert up.rf.jump == [1, 1]  # stride 2 down, ×2 up
    # the fractional-stride shortcut would say 3 + (2 − 1)·½ = 3.5 → 4; the truth is 3


def test_transposed_3x3_stride_2_makes_a_staircase():
    # after stride-2 downsampling (field [2o−1, 2o+1]), a 3×3 stride-2 transposed conv: even
    # outputs see one input (size 3), odd outputs see two adjacent ones (size 5)
    a = analyze_spec([1, 16], [{"conv": {"out": 1, "kernel": 3, "stride": 2, "padding": 1}},
                               {"conv_transpose": {"out": 1, "kernel": 3, "stride": 2, "padding": 1}}])
    assert a.layers[1].rf.size == [5]
    assert a.layers[1].rf.jump == [1]


def test_upsample_jump_is_fractional():
    a = analyze_spec([1, 8], [{"upsample": {"scale": 2}}])
    assert a.layers[0].rf.jump == [Fraction(1, 2)] and a.layers[0].rf.size == [1]


def test_unreached_outputs_have_no_field_but_the_layer_still_reports():
    # kernel 1, stride 2: odd outputs get no product at all
    a = analyze_spec([1, 4], [{"conv_transpose": {"out": 1, "kernel": 1, "stride": 2}}])
    assert a.layers[0].rf.size == [1] and a.layers[0].rf.jump == [Fraction(1, 2)]


def test_global_and_adaptive_pooling_use_their_bins():
    a = analyze_spec([1, 7, 7], [{"conv": {"out": 1, "kernel": 3, "padding": 1}}, "global_avgpool"])
    g = a.layers[1].rf
    # the whole input's field: [−1, 7] → 9; jump = 1 · 7 / 1
    assert g.size == [9, 9] and g.jump == [7, 7] and g.start == [3, 3]


def test_squeeze_excitation_gate_does_not_set_the_jump():
    a = analyze_spec([4, 8, 8], [
        {"conv": {"out": 4, "kernel": 3, "padding": 1}, "name": "x"},
        {"global_avgpool": None, "name": "gap"},
        {"conv": {"out": 4, "kernel": 1}, "name": "gate"},
        {"mul": None, "from": ["x", "gate"]},
    ])
    mul = a.layers[-1].rf
    # the gate sees the whole image ([−1, 8] after the 3×3), so every output does too
    assert mul.jump == [1, 1] and mul.size == [10, 10]


def test_misaligned_branches_are_reported_not_guessed():
    a = analyze_spec([1, 8], [
        {"conv": {"out": 1, "kernel": 2, "stride": 2}, "name": "a"},
        {"conv": {"out": 1, "kernel": 5}, "name": "b", "from": "input"},
        {"add": None, "from": ["a", "b"]},
    ])
    assert a.layers[-1].rf is None
    assert "add1" in a.warnings[0] and "different strides" in a.warnings[0]


def test_rf_is_null_once_flat():
    a = analyze_spec([1, 8, 8], ["flatten", {"linear": {"out": 2}}])
    assert all(layer.rf is None for layer in a.layers)
    assert a.final_rf is None


def test_linear_upsample_of_a_single_pixel_reads_only_that_pixel():
    # ASPP image pooling: global pool → upsample back; PyTorch clamps both taps to pixel 0, so
    # every output's field is the pooled field (the whole 8-pixel input), not twice that
    a = analyze_spec([2, 8, 8], ["global_avgpool", {"upsample": {"size": 8, "mode": "linear"}}])
    assert a.layers[1].rf.size == [8, 8]


def test_hypothesis_regression_single_pixel_before_linear_upsample():
    # found by hypothesis: the conv leaves one pixel, which linear upsampling must not widen
    chain = [{"adaptive_avgpool": {"out": 10}}, {"conv": {"out": 1, "kernel": 4, "dilation": 3}},
             {"upsample": {"scale": 2, "mode": "linear"}}]
    analysis = analyze_spec([1, 8], chain)
    sizes = [layer.output[1] for layer in analysis.layers]
    size, jump, start = measured(8, chain, sizes, _period_hint(chain))
    assert analysis.layers[-1].rf.size == [size]


# ---------------------------------------------------------------------------
# Squeeze-excitation gates merged with sliding branches (issue 11): a brute-force reference on
# graphs. A merge's output o reads position o of every input, except a broadcast input (spatial
# size 1 against a larger output), which it reads at position 0 for every o: the gate's single
# field joins every position and does not move with it.
# ---------------------------------------------------------------------------

MERGES = ("add", "mul", "concat")


def graph_brute_force(n_input: int, spec: list[dict], analysis):
    """field(name, o) for every layer of a 1-D graph spec, by recursive pulls through each
    layer's direct definition (`sources`) and, at merges, the union of the inputs' fields."""
    sizes = {"input": n_input}
    nodes = {}
    for entry, layer in zip(spec, analysis.layers):
        kind = next(k for k in entry if k not in ("name", "from"))
        nodes[layer.name] = (kind, {kind: entry[kind] or {}}, list(layer.node.inputs))
        sizes[layer.name] = layer.output[1]

    @lru_cache(maxsize=None)
    def field(name: str, o: int):
        if name == "input":
            return (o, o)
        kind, entry, inputs = nodes[name]
        if kind in MERGES:
            pulls = [(i, 0 if sizes[i] == 1 and sizes[name] > 1 else o) for i in inputs]
        else:
            pulls = [(inputs[0], i) for i in sources(entry, o, sizes[inputs[0]], sizes[name])]
        bounds = [b for b in (field(*pull) for pull in pulls) if b is not None]
        if not bounds:
            return None
        return min(b[0] for b in bounds), max(b[1] for b in bounds)

    def jump(name: str) -> Fraction:
        """The contract's jump, independently: strides multiply it, upsampling factors divide
        it, pooling to m bins multiplies it by in/m; a merge takes its non-broadcast inputs'."""
        if name == "input":
            return Fraction(1)
        kind, entry, inputs = nodes[name]
        p = entry[kind]
        if kind in MERGES:
            return jump(next(i for i in inputs if sizes[i] == sizes[name]))
        base = jump(inputs[0])
        if kind in ("conv", "maxpool"):
            return base * p.get("stride", p.get("kernel", 1) if kind == "maxpool" else 1)
        if kind == "conv_transpose":
            return base / p["stride"]
        if kind == "upsample":
            return base / p["scale"]
        if kind.startswith(("adaptive", "global")):
            return base * Fraction(sizes[inputs[0]], p.get("out", 1))
        return base  # pointwise

    return field, jump, sizes


def _field_layers():
    """Layers after which fields stay local: convs (dilated, strided), pooling, transposed
    convs (also with kernel < stride: outputs no product reaches), upsampling."""
    return st.one_of(
        layer_1d,
        st.builds(lambda s, k: {"conv_transpose": {"out": 1, "kernel": k, "stride": s}},
                  st.integers(2, 3), st.integers(1, 2)),
        st.just({"sigmoid": None}),
    )


@st.composite
def se_graph(draw):
    """A random 1-D spec: a trunk, then 1–2 squeeze-excitation blocks (a gate pooled from the
    block's input or its body, merged by mul — either order — and then by add or concat with the
    body or the block's input, or not at all), then more layers, ending in global or adaptive
    pooling or not."""
    spec = [dict(e) for e in draw(st.lists(_field_layers(), max_size=2))]
    names = iter(f"n{i}" for i in range(100))

    def add(entry, **extra):
        name = next(names)
        spec.append(dict(entry, name=name, **extra))
        return name

    last = add({"identity": None})
    for _ in range(draw(st.integers(1, 2))):
        block_in = last
        k, d = draw(st.integers(0, 2)), draw(st.integers(1, 2))
        body = add({"conv": {"out": 1, "kernel": 2 * k + 1, "dilation": d, "padding": k * d}})
        pool = draw(st.sampled_from([{"global_avgpool": None}, {"global_maxpool": None},
                                     {"adaptive_avgpool": {"out": 1}}, {"adaptive_maxpool": {"out": 1}}]))
        squeezed = add(pool, **{"from": draw(st.sampled_from([block_in, body]))})
        gate = add({"conv": {"out": 1, "kernel": 1}}, **{"from": squeezed})
        gate = add({"sigmoid": None}, **{"from": gate})
        pair = [body, gate] if draw(st.booleans()) else [gate, body]
        last = add({"mul": None}, **{"from": pair})
        how = draw(st.sampled_from(["none", "add", "concat"]))
        if how != "none":
            other = draw(st.sampled_from([block_in, body]))
            pair = [last, other] if draw(st.booleans()) else [other, last]
            last = add({how: None}, **{"from": pair})
        if draw(st.booleans()):
            stride = draw(st.integers(1, 3))
            last = add({"conv": {"out": 1, "kernel": draw(st.integers(1, 4)), "stride": stride}})
    spec += [dict(e) for e in draw(st.lists(_field_layers(), max_size=2))]
    spec += draw(st.sampled_from([[], [{"global_avgpool": None}], [{"global_maxpool": None}],
                                  [{"adaptive_avgpool": {"out": draw(st.integers(1, 5))}}],
                                  [{"adaptive_maxpool": {"out": draw(st.integers(1, 5))}}]]))
    return spec


def _merge_inputs_extent(field, sizes, inputs):
    """The hull of the inputs' fields over all their real positions: the whole padded input a
    merge can see."""
    bounds = [field(i, o) for i in inputs for o in range(sizes[i])]
    bounds = [b for b in bounds if b is not None]
    return (min(b[0] for b in bounds), max(b[1] for b in bounds)) if bounds else None


@settings(max_examples=200, deadline=None)
@given(spec=se_graph(), n=st.integers(6, 24))
def test_rf_after_squeeze_excitation_merges_matches_brute_force(spec, n):
    try:
        analysis = analyze_spec([1, n], spec)
    except SpecError:
        assume(False)
    assume(not analysis.warnings)  # a body pooled down to one pixel: misaligned with its gate
    field, jump, sizes = graph_brute_force(n, spec, analysis)
    for layer in analysis.layers:
        rf, name, n_out = layer.rf, layer.name, layer.output[1]
        truth = [field(name, o) for o in range(n_out)]
        # the exact field of every real output, not only the summary numbers
        assert [rf.fields[0].bounds(o) for o in range(n_out)] == truth, name
        widths = [b[1] - b[0] + 1 for b in truth if b is not None]
        assert rf.size == [max(widths) if widths else None], name
        assert rf.start == [None if truth[0] is None else Fraction(sum(truth[0]), 2)], name
        assert rf.jump == [jump(name)], name
        if layer.type in MERGES:  # never wider than what the merge's inputs see in all
            whole = _merge_inputs_extent(field, sizes, list(layer.node.inputs))
            assert all(b is None or whole[0] <= b[0] and b[1] <= whole[1] for b in truth), name


SE_RESIDUAL = [  # issue 11's reproducer: a gate merged by mul, then by add with the sliding branch
    {"conv": {"out": 8, "kernel": 3, "padding": 1}, "name": "c0"},
    "global_avgpool",
    {"conv": {"out": 8, "kernel": 1}},
    {"sigmoid": {}, "name": "gate"},
    {"mul": None, "from": ["c0", "gate"]},
    {"add": None, "from": ["mul1", "c0"]},
    "global_maxpool",
]


def test_squeeze_excitation_then_residual_add_by_hand():
    # c0 sees [o − 1, o + 1]; the gate sees c0's whole padded extent [−1, 18] (20 pixels); every
    # output of mul1 and add1 sees that whole extent (it does not move with o), and so does the
    # global max pool: 20, not the 37 of a field extended as if it translated with jump 1.
    a = analyze_spec([4, 18, 18], SE_RESIDUAL)
    mul, add, pooled = (a.layer(name).rf for name in ("mul1", "add1", "global_maxpool1"))
    for rf in (mul, add):
        assert rf.size == [20, 20] and rf.jump == [1, 1] and rf.start == [Fraction(17, 2)] * 2
        assert [rf.fields[0].bounds(o) for o in (0, 9, 17)] == [(-1, 18)] * 3
    assert pooled.size == [20, 20] and pooled.jump == [18, 18]
    assert a.final_rf == 20


def test_fixed_part_survives_strides_and_upsampling():
    # After the SE merge, a stride-2 conv padded by 2 and a 2× nearest upsample. mul1's output
    # o' sees its sliding [o' − 1, o' + 1] and the gate's fixed [−1, 12] (c0's whole padded
    # extent). conv2's output o reads mul1 at 2o − 2 … 2o: output 0 reaches the padding positions
    # −2, −1 (sliding [−3, 1]), output 6 reaches 12 (sliding [11, 13]); the fixed part does not
    # move. The upsample's output o reads conv2 at o // 2.
    a = analyze_spec([1, 12], [
        {"conv": {"out": 1, "kernel": 3, "padding": 1}, "name": "c0"},
        "global_avgpool",
        {"mul": None, "from": ["c0", "global_avgpool1"]},
        {"conv": {"out": 1, "kernel": 3, "stride": 2, "padding": 2}},
        {"upsample": {"scale": 2}},
    ])
    conv, up = a.layers[-2].rf, a.layers[-1].rf
    assert a.layers[-1].output == (1, 14)
    assert [conv.fields[0].bounds(o) for o in range(7)] == [(-3, 12)] + [(-1, 12)] * 5 + [(-1, 13)]
    assert [up.fields[0].bounds(o) for o in range(14)] == [(-3, 12)] * 2 + [(-1, 12)] * 10 + [(-1, 13)] * 2
    assert up.size == [16] and up.jump == [1] and up.start == [Fraction(9, 2)]
