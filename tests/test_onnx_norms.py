"""ONNX interchange (contract §8) of the §7 normalisations and residual helpers: every form netcalc
writes (README, ONNX: layernorm as LayerNormalization or written out, groupnorm as
GroupNormalization from opset 21 with affine or as PyTorch's Reshape → InstanceNormalization →
Reshape before it, instancenorm as InstanceNormalization, scale as Mul [+ Add] by [C, 1, …],
drop_path as Identity, read back as `identity`) runs in onnxruntime (an independent engine) with the
outputs of netcalc's executor, and reads back as the same layers."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx_util import assert_close, fast_weights, model_bytes, netcalc_outputs, ort_outputs  # noqa: E402
from test_onnx_specs import assert_same_layers  # noqa: E402

from netcalc.analysis import analyze_graph  # noqa: E402
from netcalc.graph import build_graph  # noqa: E402
from netcalc.onnx.reader import load_onnx  # noqa: E402
from netcalc.spec import load_spec_text  # noqa: E402

# every layer reads the input and is an output of the model, so every one is compared
SPEC = """
input: [4, 6, 5]
layers:
  - {layernorm: , name: ln}
  - {layernorm: {affine: false}, name: ln_plain, from: input}
  - {layernorm: {bias: false, eps: 1.0e-6}, name: ln_nobias, from: input}
  - {groupnorm: {groups: 2}, name: gn, from: input}
  - {groupnorm: {groups: 4, affine: false}, name: gn_plain, from: input}
  - {instancenorm: {affine: true}, name: inorm, from: input}
  - {instancenorm: , name: inorm_plain, from: input}
  - {layer_scale: , name: ls, from: input}
  - {drop_path: {p: 0.1}, name: dp, from: input}
  - {flatten: , name: flat, from: input}
  - {layernorm: , name: ln_flat}
  - {groupnorm: {groups: 3}, name: gn_flat, from: flat}
"""


@pytest.mark.parametrize("opset", [13, 17, 18, 21])
def test_norms_export_run_in_onnxruntime_and_read_back(opset, tmp_path):
    graph = build_graph(load_spec_text(SPEC, "norms.yaml"))
    weights = fast_weights(graph, seed=opset)
    model = tmp_path / "norms.onnx"
    model.write_bytes(model_bytes(graph, weights, opset))
    x = np.random.default_rng(opset).normal(1.0, 2.0, size=(2, 4, 6, 5)).astype(np.float32)
    want = ort_outputs(model.read_bytes(), x)
    assert len(want) == len(graph.nodes) - 1  # every layer but flatten is an output
    onnx_spec = load_onnx(model)
    assert_same_layers(analyze_graph(graph), analyze_graph(build_graph(onnx_spec)))  # export → import
    got = netcalc_outputs(build_graph(onnx_spec), onnx_spec.weights(), x, list(want))
    mine = netcalc_outputs(graph, weights, x, list(want))
    for name in want:
        assert_close(got[name], want[name], what=name)
        assert_close(mine[name], want[name], what=name)


def test_export_takes_torchvisions_layer_scale_layout(tmp_path):
    """`export --weights` with a [C, 1, 1] layer scale (torchvision's layout) writes the [C] weight."""
    from click.testing import CliRunner

    from netcalc.cli import cli

    spec = tmp_path / "ls.yaml"
    spec.write_text("input: [3, 4, 4]\nlayers:\n  - {layer_scale: , name: ls}\n  - {instancenorm: {affine: true}, name: n}\n")
    gamma = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    np.savez(tmp_path / "w.npz", **{"ls.weight": gamma.reshape(3, 1, 1), "n.weight": gamma.reshape(3, 1, 1),
                                    "n.bias": np.zeros(3, dtype=np.float32)})
    result = CliRunner().invoke(cli, ["export", str(spec), "-o", str(tmp_path / "m.onnx"),
                                      "--weights", str(tmp_path / "w.npz")])
    assert result.exit_code == 0, result.output
    x = np.random.default_rng(0).normal(size=(1, 3, 4, 4)).astype(np.float32)
    out = ort_outputs((tmp_path / "m.onnx").read_bytes(), x)["n"]
    scaled = x * gamma.reshape(1, 3, 1, 1)
    normed = (scaled - scaled.mean(axis=(2, 3), keepdims=True)) / np.sqrt(scaled.var(axis=(2, 3), keepdims=True) + 1e-5)
    assert_close(out, normed * gamma.reshape(1, 3, 1, 1), what="n")
