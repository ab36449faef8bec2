"""The bundled specs with more than 50 M parameters, exported and run in onnxruntime like the
others (tests/test_onnx_specs.py); in their own file to keep each test file short."""

from __future__ import annotations

import pathlib

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from test_onnx_specs import LARGE, check_bundled_spec

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPECS = sorted(p for p in (ROOT / "specs").glob("*.yaml") if p.stem in LARGE)


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_large_bundled_spec_exports_and_runs_in_onnxruntime(path, tmp_path):
    check_bundled_spec(path, tmp_path)
