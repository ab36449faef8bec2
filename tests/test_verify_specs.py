"""`verify` on every bundled spec: the executor's real shapes equal the calculated ones
(`verify --rf` on every bundled spec: tests/test_rf_bundled.py)."""

from __future__ import annotations

import pathlib

import pytest

from netcalc import verification
from netcalc.analysis import analyze_file
from netcalc.errors import SpecError

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_bundled_spec_shapes_verify(path):
    analysis = analyze_file(path)
    try:
        result = verification.verify(analysis, memory_limit=2 * 2**30)
    except SpecError as exc:
        pytest.skip(str(exc))
    assert result.ok, [c for c in result.layers if not c.ok]
    assert len(result.layers) == len(analysis.layers)
