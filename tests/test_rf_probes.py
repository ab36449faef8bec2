"""The support probe (verify --rf's default) against the float probe (the reference): on random
specs both measure exactly the same field for every probed unit of every layer, and a wrong rf
rule is still caught. Every bundled spec's `verify --rf` is in tests/test_rf_bundled.py."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netcalc import rfprobe
from netcalc.analysis import analyze_graph
from netcalc.errors import SpecError
from netcalc.graph import build_graph
from netcalc.spec import load_spec_text

sys.path.insert(0, str(Path(__file__).parent))
from test_verify_cli import SE_TAIL, random_merge_spec  # noqa: E402

# Tails that route channels and space together (a grouped conv read through pixel_shuffle: the
# gradient covers some channels of a position and not others), upsample or transposed-conv again
TAILS = [
    "",
    "  - conv: {out: 4, kernel: 3, padding: 1, groups: 2}\n  - pixel_shuffle: {factor: 2}\n",
    "  - depthwise: {kernel: 3, dilation: 2, padding: 2, multiplier: 2}\n  - upsample: {scale: 2, mode: linear}\n",
    "  - conv_transpose: {out: 2, kernel: 3, stride: 2}\n  - maxpool: {kernel: 3, stride: 2}\n",
]


def _analysis(text):
    return analyze_graph(build_graph(load_spec_text(text, "<random>")))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_merge_spec(), st.sampled_from(TAILS))
def test_support_probe_measures_what_the_float_probe_measures(text, tail):
    """Same graph, same units, every layer with a field: the input pixels each unit's gradient
    reaches are identical, pixel for pixel (branches, concats, squeeze-excitation gates,
    transposed convs, upsampling, grouped convs before pixel_shuffle)."""
    try:
        analysis = _analysis(text + tail)
    except SpecError:
        return  # e.g. an odd size that a U-Net skip cannot match, a map too small for the tail
    targets = {layer.name: list(dict.fromkeys(u for _, u in rfprobe._units(layer.rf.fields, layer.node.spatial_out)))
               for layer in analysis.layers if layer.rf is not None}
    support = rfprobe.support_reach(analysis.graph, targets)
    reference = rfprobe.float_reach(analysis.graph, targets)
    for name in targets:
        assert np.array_equal(support[name], reference[name]), (text + tail, name)


def test_support_probe_chunks_seeds_without_changing_them(monkeypatch):
    """Seeds of many layers share walks in chunks; a tiny budget (one seed per walk) gives the same."""
    analysis = _analysis(SMALL)
    targets = {layer.name: list(dict.fromkeys(u for _, u in rfprobe._units(layer.rf.fields, layer.node.spatial_out)))
               for layer in analysis.layers if layer.rf is not None}
    together = rfprobe.support_reach(analysis.graph, targets)
    monkeypatch.setattr(rfprobe, "SUPPORT_BUDGET_BYTES", 1)
    alone = rfprobe.support_reach(analysis.graph, targets)
    assert all(np.array_equal(together[n], alone[n]) for n in targets)


SMALL = """
input: [3, 20, 20]
layers:
  - conv: {out: 4, kernel: 3, padding: 1}
    name: skip
  - maxpool: {kernel: 2}
  - conv: {out: 4, kernel: 3, padding: 2, dilation: 2}
  - conv_transpose: {out: 4, kernel: 2, stride: 2}
    name: up
  - concat:
    from: [skip, up]
  - conv: {out: 2, kernel: 3, stride: 2}
"""


def test_wrong_dilation_rule_is_caught(monkeypatch):
    """A conv rf rule that forgets the dilation gives fields too small: the support probe
    measures the real ones."""
    from netcalc import window
    from netcalc.layers.conv import Conv

    def no_dilation(self, node):
        g = node.geometry
        return [window.sliding_map(k, s, 1, p) for k, s, p in zip(g.kernel, g.stride, g.pads_before)]

    monkeypatch.setattr(Conv, "axis_maps", no_dilation)
    checks = {c.layer: c for c in rfprobe.measure(_analysis(SMALL))}
    assert checks["conv2"].status == "mismatch"
    assert checks["skip"].status == "ok"  # dilation 1: the wrong rule happens to be right


@pytest.mark.parametrize("probe", rfprobe.PROBES)
def test_both_probes_pass_on_a_small_unet(probe):
    assert all(c.status == "ok" for c in rfprobe.measure(_analysis(SMALL), probe=probe))


def test_probe_input_is_only_as_large_as_the_field():
    """The support probe shrinks the input to a multiple of the cumulative stride that holds the
    field (here 4: two 2×2 pools): a 3×3 conv's units are probed on far fewer than 64×64 pixels."""
    text = ("input: [1, 64, 64]\nlayers:\n  - conv: {out: 2, kernel: 3, padding: 1}\n  - maxpool: {kernel: 2}\n"
            "  - maxpool: {kernel: 2}\n")
    analysis = _analysis(text)
    assert rfprobe.stride_step(analysis) == [4, 4]
    groups = {names[0]: big.graph.input_shape for big, names in rfprobe._support_groups(analysis)}
    assert groups["conv1"][1] < 64 and (64 - groups["conv1"][1]) % 8 == 0
    assert all(c.status == "ok" for c in rfprobe.measure(analysis))


# ---- every registered layer type (its small 1-D instance from tests/test_registry.py) ----

from helpers import analyze_spec  # noqa: E402
from test_registry import SAMPLES, checked_types  # noqa: E402


def _same_reach(analysis, target):
    layer = next(layer for layer in analysis.layers if layer.name == target)
    units = {target: [(o,) for o in range(layer.node.spatial_out[0])]}  # every output, one seed each
    support = rfprobe.support_reach(analysis.graph, units)[target]
    reference = rfprobe.float_reach(analysis.graph, units)[target]
    np.testing.assert_array_equal(support, reference)


@pytest.mark.parametrize("name", checked_types())
def test_every_type_s_support_equals_the_float_probe(name):
    """Each type's declared support (or the default) reaches exactly the pixels the float probe
    does, for every output of its sample; and again behind a pixel_shuffle, whose gradient covers
    some channels of a position and not others (the full-channel path of every type)."""
    shape, entry = SAMPLES[name]
    analysis = analyze_spec(shape, [entry])
    last = analysis.layers[-1]
    if last.rf is None:
        return  # flat output: no field to probe
    _same_reach(analysis, last.name)
    if len(last.node.out_shape) == 2 and last.node.out_shape[0] % 2 == 0:
        shuffled = analyze_spec(shape, [entry, {"pixel_shuffle": {"factor": 2}}])
        _same_reach(shuffled, shuffled.layers[-1].name)


@pytest.mark.parametrize("probe", rfprobe.PROBES)
def test_verify_rf_probe_option(tmp_path, probe):
    import json

    from click.testing import CliRunner

    from netcalc.cli import cli

    path = tmp_path / "small.yaml"
    path.write_text(SMALL)
    result = CliRunner().invoke(cli, ["verify", str(path), "--rf", "--probe", probe, "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["rf_mismatches"] == 0 and all(layer["rf"]["status"] == "ok" for layer in report["layers"])


# ---- too-wide rules: a clipped field's ends inside the input are compared exactly, and a gated
# field's sliding part is measured alone ----

def _widened(cls, monkeypatch, pad_hi=1, only=None):
    """Make `cls`'s rf rule one pixel too wide at the high end of every field (of the layer `only`)."""
    import dataclasses as dc

    rule = cls.receptive_field

    def wider(self, node, in_fields):
        fields = rule(self, node, in_fields)
        if fields is None or (only is not None and node.name != only):
            return fields
        return [dc.replace(f, hi=tuple(None if h is None else h + pad_hi for h in f.hi)) for f in fields]

    monkeypatch.setattr(cls, "receptive_field", wider)


# 10 pixels, a 2×2 stride-2 conv padded before only: the last row is never read, so global
# pooling's field is [-1, 8], clipped below and not above
UNREAD_ROW = """
input: [1, 10, 10]
layers:
  - conv: {out: 2, kernel: 2, stride: 2, padding: [[1, 0], [1, 0]]}
  - global_avgpool
"""


def test_global_pooling_one_pixel_too_wide_is_caught_where_not_clipped(monkeypatch):
    from netcalc.layers.pool import GlobalPool

    good = {c.layer: c for c in rfprobe.measure(_analysis(UNREAD_ROW))}
    assert good["global_avgpool1"].status == "ok" and good["global_avgpool1"].clipped
    assert good["global_avgpool1"].exact_ends == 2  # the high end on each axis
    _widened(GlobalPool, monkeypatch)
    wrong = _analysis(UNREAD_ROW)
    assert [list(f.bounds(0)) for f in wrong.layers[-1].rf.fields] == [[-1, 9], [-1, 9]]  # inside 0 … 9
    assert {c.layer: c for c in rfprobe.measure(wrong)}["global_avgpool1"].status == "mismatch"


SE = """
input: [2, 24, 24]
layers:
  - conv: {out: 4, kernel: 3, padding: 1}
    name: body
  - global_avgpool
  - conv: {out: 4, kernel: 1}
    name: gate
  - mul:
    from: [body, gate]
  - conv: {out: 4, kernel: 3, padding: 1}
    name: after
  - add:
    from: [after, mul1]
"""


def test_a_merge_folding_the_gate_into_the_sliding_part_is_caught(monkeypatch):
    """issue 11 part 1's bug: the gate's whole-input field made to slide with the output."""
    import dataclasses

    from netcalc.layers.merge import Mul

    def folded(self, node, in_fields):  # mul1's inputs are [body, gate]: the gate's field joins the sliding part
        return [dataclasses.replace(body, lo=tuple(min(lo, gate.bounds(0)[0]) for lo in body.lo),
                                    hi=tuple(max(hi, gate.bounds(0)[1]) for hi in body.hi))
                for body, gate in zip(*in_fields)]

    assert all(c.status == "ok" for c in rfprobe.measure(_analysis(SE)))
    monkeypatch.setattr(Mul, "receptive_field", folded)
    checks = {c.layer: c for c in rfprobe.measure(_analysis(SE))}
    assert checks["mul1"].status == "mismatch"


def test_a_too_wide_rule_behind_a_gate_is_caught_by_the_sliding_part(monkeypatch):
    """After the gate every field is the whole padded input: compared whole, a conv rule one pixel
    too wide hides in it. Its sliding part, measured with the gates cut off, shows it."""
    from netcalc.layers.conv import Conv

    good = {c.layer: c for c in rfprobe.measure(_analysis(SE))}
    assert good["after"].status == "ok" and good["after"].sliding_exact_ends > 0
    _widened(Conv, monkeypatch, only="after")
    checks = {c.layer: c for c in rfprobe.measure(_analysis(SE))}
    assert checks["after"].status == "mismatch" and checks["body"].status == "ok"
    assert checks["add1"].status == "mismatch"  # and it carries on through the merge


def test_a_partly_broadcast_input_is_not_cut():
    """[C, 1, W] times [C, H, W]: fixed along H, sliding along W. Cutting that input would not
    measure the sliding part alone, so no sliding comparison is made; the rest still agrees."""
    text = """
input: [2, 12, 12]
layers:
  - conv: {out: 2, kernel: 3, padding: 1}
    name: body
  - adaptive_avgpool: {out: [1, 12]}
  - mul:
    from: [body, adaptive_avgpool1]
"""
    analysis = _analysis(text)
    assert rfprobe._gate_edges(analysis.graph) is None
    checks = rfprobe.measure(analysis)
    assert all(c.status == "ok" and c.sliding_exact_ends is None for c in checks)


# ---- found by hypothesis (random specs with inserted zeros): each must verify ----

PHANTOM = {
    # a unit whose sliding part is empty along one axis (it reads only inserted zeros there)
    # reaches no pixel at all, though its part along the other axis is not empty
    "empty_along_one_axis": """
input: [2, 13, 14]
layers:
  - conv_transpose: {out: 2, kernel: 1, stride: 2}
  - upsample: {scale: 2, mode: nearest}
  - conv_transpose: {out: 2, kernel: 3, stride: 2}
  - upsample: {scale: 2, mode: nearest}
  - conv: {out: 2, kernel: 3, padding: 1}
    name: body""" + SE_TAIL,
    # the pool drops the transposed conv's last output, which alone reads pixel 8; the padding of
    # `body` past the pooled map is given that pixel's field (contract §5: padding positions
    # count), so global pooling's field [-1, 8] ends on a pixel nothing reads: compared as a bound
    "padding_stands_for_an_unread_pixel": """
input: [2, 9, 9]
layers:
  - conv_transpose: {out: 2, kernel: 1, stride: 2}
  - maxpool: {kernel: 2, stride: 2}
  - conv: {out: 2, kernel: 3, padding: 1}
    name: body
  - global_maxpool:
""",
    # the same near the probe input's edge: the support probe keeps such a layer's units a
    # stride step away from the edges
    "probed_units_off_the_dropped_rows": """
input: [2, 13, 14]
layers:
  - conv_transpose: {out: 2, kernel: 1, stride: 2}
  - maxpool: {kernel: 2, stride: 2}
  - maxpool: {kernel: 2, stride: 2, ceil_mode: true}
  - conv_transpose: {out: 2, kernel: 1, stride: 2}
  - conv: {out: 2, kernel: 3, stride: 1}
  - conv: {out: 4, kernel: 3, padding: 1, groups: 2}
  - pixel_shuffle: {factor: 2}
""",
}


@pytest.mark.parametrize("name", PHANTOM)
def test_inserted_zeros_regressions(name):
    analysis = _analysis(PHANTOM[name])
    assert all(c.status == "ok" for c in rfprobe.measure(analysis)), name
    if name == "padding_stands_for_an_unread_pixel":
        assert not rfprobe._ends_are_taps(analysis)["global_maxpool1"]
        assert rfprobe._ends_are_taps(_analysis(UNREAD_ROW))["global_avgpool1"]
