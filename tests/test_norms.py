"""Contract §7's normalisations (layernorm, groupnorm, instancenorm) and residual-branch helpers
(scale, drop_path) beyond the registry-wide checks (hand-worked counts in test_layers.py, naive
loops and finite differences in test_registry.py, brute-force fields in test_rf.py, bad
parameters in test_errors.py): `explain` with the numbers substituted, `run` with PyTorch's layouts, and `verify --rf`
through the probe stand-in that freezes the statistics."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from helpers import analyze_spec
from netcalc import rfprobe
from netcalc.analysis import analyze_graph
from netcalc.cli import cli
from netcalc.executor import Executor
from netcalc.explain import explain, render_plain
from netcalc.graph import build_graph
from netcalc.spec import load_spec_text

def explained(text: str, name: str) -> str:
    analysis = analyze_graph(build_graph(load_spec_text(text, "t.yaml")))
    return render_plain(explain(analysis, name), analysis)


def test_explain_layernorm_substitutes_the_numbers():
    text = explained("input: [96, 56, 56]\nlayers:\n  - layernorm\n", "layernorm1")
    assert "weight C + bias C = 96 + 96 = 192" in text
    # per position: 95 adds + 1 divide (mean), 96 subtracts, 96 multiplies + 95 adds + 1 divide
    # (variance), eps, sqrt, 96 divides, then 96 multiplies (weight) and 96 adds (bias)
    assert ("95 adds + 1 divide + 96 subtracts + 96 multiplies + 95 adds + 1 divide + 1 add (eps) + 1 sqrt"
            " + 96 divides + 96 multiplies (weight) + 96 adds (bias)") in text
    assert "f = 5·C + 2 + C + C = 5·96 + 2 + 96 + 96 = 674" in text
    assert "× positions 56·56 = 3136 → 56·56·674 = 2113664" in text


def test_explain_groupnorm_and_instancenorm():
    text = explained("input: [128, 16, 16]\nlayers:\n  - groupnorm: {groups: 32}\n", "groupnorm1")
    assert "m = (C/groups)·Πs = (128/32)·16·16 = 1024 values per group" in text
    assert "f = 5·m + 2 = 5·1024 + 2 = 5122" in text
    assert "groups·f + 2·elements = 32·5122 + 2·128·16·16 = 229440" in text
    text = explained("input: [64, 32, 32]\nlayers:\n  - instancenorm\n", "instancenorm1")
    assert "m = (C/groups)·Πs = (64/64)·32·32 = 1024 values per group" in text
    assert "groups·f = 64·5122 = 327808" in text
    assert "0 (affine false: nothing learnable)" in text


def test_explain_scale():
    text = explained("input: [96, 7, 7]\nlayers:\n  - scale: {bias: true}\n", "scale1")
    assert "C + C = 96 + 96 = 192" in text
    assert "per element: 1 multiply + 1 add = 2" in text and "× elements 96·7·7 = 9408" in text


def test_layers_command_lists_the_types_with_their_rules():
    result = CliRunner().invoke(cli, ["layers", "--format", "json"])
    assert result.exit_code == 0
    rows = {row["type"]: row for row in json.loads(result.stdout)}
    assert rows["groupnorm"]["flops_rule"].startswith("groups·f (+ 2·elements with affine); f = 5·m + 2")
    assert "layer_scale" in rows["scale"]["aliases"] and "stochastic_depth" in rows["drop_path"]["aliases"]


def test_run_takes_torchvisions_layouts():
    """layer scale as torchvision stores it, [C, 1, 1]; a norm's weight as [C] or [C, 1, 1];
    anything else is refused with both shapes named."""
    a = analyze_spec([4, 3, 3], [{"layer_scale": None, "name": "ls"}, {"groupnorm": {"groups": 2}, "name": "gn"}])
    gamma, w, b = np.arange(1.0, 5.0), np.full(4, 2.0), np.zeros(4)
    ex = Executor(a.graph, weights={"ls.weight": gamma.reshape(4, 1, 1), "gn.weight": w.reshape(4, 1, 1),
                                    "gn.bias": b}, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((1, 4, 3, 3))
    out = ex.forward(x, keep=True).outputs
    np.testing.assert_allclose(out["ls"], x * gamma.reshape(1, 4, 1, 1))
    from netcalc.errors import SpecError

    with pytest.raises(SpecError, match=r"'ls.weight' has shape \[4, 3\], expected \[4\]"):
        Executor(a.graph, weights={"ls.weight": np.ones((4, 3)), "gn.weight": w, "gn.bias": b})


def test_groupnorm_normalises_each_group_over_all_its_positions():
    # two groups of 2 channels: after groupnorm (no affine) each group has mean 0 and variance
    # 1 − eps-ish over its 2·3·3 values, whatever the scale of the group
    a = analyze_spec([4, 3, 3], [{"groupnorm": {"groups": 2, "affine": False, "eps": 0.0}, "name": "gn"}])
    x = np.random.default_rng(1).standard_normal((2, 4, 3, 3)) * np.array([1, 1, 100, 100]).reshape(1, 4, 1, 1)
    y = Executor(a.graph, dtype=np.float64).forward(x, keep=True).outputs["gn"].reshape(2, 2, -1)
    np.testing.assert_allclose(y.mean(axis=2), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=2), 1, atol=1e-12)  # the biased variance, as PyTorch


def _mini(spec_name: str, input_shape, blocks: list[str], layers: list):
    """A small network built from a bundled spec's own blocks (verify --rf within the test budget)."""
    from test_specs import SPECS

    spec = yaml.safe_load((SPECS / f"{spec_name}.yaml").read_text())
    doc = {"input": input_shape, "blocks": {b: spec["blocks"][b] for b in blocks}, "layers": layers}
    return analyze_graph(build_graph(load_spec_text(yaml.safe_dump(doc, sort_keys=False), "mini.yaml")))


@pytest.mark.parametrize("analysis", [
    pytest.param(lambda: _mini("convnext_tiny", [3, 8, 8], ["cnblock", "downsample"], [
        {"conv": {"out": 4, "kernel": 2, "stride": 2}}, {"layernorm": {"eps": 1e-6}},
        {"cnblock": {"dim": 4}}, {"downsample": {"out": 8}}, {"cnblock": {"dim": 8}}]), id="convnext"),
    pytest.param(lambda: _mini("diffusion_unet", [32, 6, 6], ["resnet", "down"], [
        {"down": {"inp": 32, "out": 32}, "name": "d"},
        {"upsample": {"scale": 2}}, {"concat": None, "from": ["upsample1", "d.r1"]}, {"instancenorm": None}]),
        id="unet"),
])
def test_verify_rf_through_the_frozen_statistics(analysis):
    """The probe stand-in (statistics frozen) lets every input of the field carry a gradient:
    measured fields equal the calculated ones on networks made of the bundled specs' blocks."""
    checks = rfprobe.measure(analysis(), memory_limit=600 * 2**20)
    assert checks and all(c.status == "ok" for c in checks), [c for c in checks if c.status != "ok"]


def test_without_frozen_statistics_a_layernorm_gradient_cancels():
    """Why the probe freezes statistics: with a uniform upstream gradient and weight, layernorm's
    true input gradient is exactly zero (the mean and variance absorb it)."""
    a = analyze_spec([3, 4], [{"layernorm": {"affine": False}, "name": "ln"}])
    ex = Executor(a.graph, dtype=np.float64)
    x = np.random.default_rng(2).standard_normal((1, 3, 4))
    fwd = ex.forward(x, keep=True, _caches=True)
    np.testing.assert_allclose(ex.backward(x, fwd, "ln", np.ones((1, 3, 4))).input, 0, atol=1e-12)
    probe = Executor(a.graph, dtype=np.float64, probe=True)
    fwd = probe.forward(x, keep=True, _caches=True)
    assert (probe.backward(x, fwd, "ln", np.ones((1, 3, 4))).input > 0).all()
