"""The bundled specs with more than 50 M parameters, exported and run in onnxruntime like the
others (tests/test_onnx_specs.py), in their own file: about 35 s on an idle 2-core machine, most of
it writing, checking and reading back ~1 GB of weights."""

from __future__ import annotations

import pathlib

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from test_onnx_specs import check_bundled_spec

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPECS = [ROOT / "specs" / f"{name}.yaml" for name in ("vgg16", "alexnet", "zfnet", "video_c3d")]


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_large_bundled_spec_exports_and_runs_in_onnxruntime(path, tmp_path):
    check_bundled_spec(path, tmp_path)
