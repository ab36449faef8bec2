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
from test_verify_cli import random_merge_spec  # noqa: E402

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
