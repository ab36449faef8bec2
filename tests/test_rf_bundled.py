"""`verify --rf` on every bundled spec (specs/*.yaml, whatever is added there): the support
probe measures every layer's receptive field and it agrees with the calculation. Time and peak
memory per spec: benchmarks/bench_rf.py (README records them)."""

from __future__ import annotations

import pathlib

import pytest

from netcalc import rfprobe
from netcalc.analysis import analyze_file

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_bundled_spec_rf_verify(path):
    analysis = analyze_file(path)
    checks = rfprobe.measure(analysis)
    assert len(checks) == sum(layer.rf is not None for layer in analysis.layers) or len(analysis.graph.input_shape) < 2
    assert all(c.status == "ok" for c in checks), [c for c in checks if c.status != "ok"]
