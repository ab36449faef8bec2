"""`netcalc export`, `netcalc import` and the other commands on .onnx files (contract §8)."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from netcalc.cli import cli

ROOT = pathlib.Path(__file__).resolve().parent.parent


def invoke(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def analyze_json(path, *extra):
    report = json.loads(invoke("analyze", path, "--format", "json", *extra).stdout)
    report.pop("name")
    return report


def test_other_commands_never_import_onnx():
    """Start-up stays light: analyze/check/verify/explain of a spec import neither onnx nor netcalc.onnx."""
    code = ("import sys\nfrom click.testing import CliRunner\nfrom netcalc.cli import cli\n"
            "for args in (['analyze', 'specs/lenet5.yaml'], ['check', 'specs/lenet5.yaml'],\n"
            "             ['explain', 'specs/lenet5.yaml'], ['verify', 'specs/lenet5.yaml'], ['layers']):\n"
            "    assert CliRunner().invoke(cli, args).exit_code == 0, args\n"
            "print(sorted(m for m in sys.modules if m == 'onnx' or m.startswith(('onnx.', 'netcalc.onnx'))))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_without_the_onnx_package_the_commands_give_the_install_hint(tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"\x08\x07")
    code = ("import sys\nsys.modules['onnx'] = None\nfrom netcalc.cli import main\n"
            f"sys.argv = ['netcalc'] + sys.argv[1:]\nmain()\n")
    for args in (["analyze", str(model)], ["import", str(model)],
                 ["export", "specs/lenet5.yaml", "-o", str(tmp_path / "x.onnx")]):
        proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT)
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.count("\n") == 1 and "pip install 'netcalc[onnx]'" in proc.stderr, proc.stderr


pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def segnet(tmp_path_factory):
    """tiny_segnet exported with given weights (from a file), and the weights."""
    folder = tmp_path_factory.mktemp("segnet")
    from netcalc.executor import random_weights
    from netcalc.graph import build_graph
    from netcalc.spec import load_spec

    weights = random_weights(build_graph(load_spec(ROOT / "specs/tiny_segnet.yaml")), seed=5)
    np.savez(folder / "w.npz", **weights)
    invoke("export", ROOT / "specs/tiny_segnet.yaml", "-o", folder / "tiny_segnet.onnx", "--weights", folder / "w.npz")
    return folder, weights


def test_export_then_analyze_gives_the_spec_report(segnet):
    folder, _ = segnet
    assert analyze_json(folder / "tiny_segnet.onnx") == analyze_json(ROOT / "specs/tiny_segnet.yaml")


def test_export_then_import_gives_back_the_spec_and_its_weights(segnet, tmp_path):
    folder, weights = segnet
    invoke("import", folder / "tiny_segnet.onnx", "-o", tmp_path / "back.yaml", "--weights-out", tmp_path / "w.npz")
    text = (tmp_path / "back.yaml").read_text()
    assert "dotted_names: true" in text and "separable1.depthwise" in text
    assert analyze_json(tmp_path / "back.yaml") == analyze_json(ROOT / "specs/tiny_segnet.yaml")
    with np.load(tmp_path / "w.npz") as back:
        assert set(back.files) == set(weights)
        for name in weights:
            np.testing.assert_array_equal(back[name], weights[name].astype(np.float32))


def test_run_on_the_model_uses_its_initializers(segnet, tmp_path):
    folder, _ = segnet
    x = np.random.default_rng(0).normal(size=(1, 3, 64, 64)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    invoke("run", folder / "tiny_segnet.onnx", "--input", tmp_path / "x.npy", "--save", tmp_path / "a.npz")
    invoke("run", ROOT / "specs/tiny_segnet.yaml", "--input", tmp_path / "x.npy", "--weights", folder / "w.npz",
           "--save", tmp_path / "b.npz")
    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b:
        assert a.files == b.files
        for name in a.files:
            np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-6)


def test_verify_and_explain_read_models(segnet):
    folder, _ = segnet
    assert "✓" in invoke("verify", folder / "tiny_segnet.onnx").stdout
    out = invoke("explain", folder / "tiny_segnet.onnx", "--layer", "up").stdout
    assert "C_in·Π(in spatial)·(C_out/g)·Πk" in out


def test_import_then_analyze_equals_analyze_of_the_model(tmp_path):
    """A model with module-path names and patterns: the imported spec reports exactly what the
    model does, names included."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    inits = [numpy_helper.from_array(rng.normal(size=s).astype(np.float32), n) for n, s in
             (("W1", (8, 3, 3, 3)), ("W2", (8, 1, 3, 3)), ("fcW", (10, 8)), ("fcB", (10,)))]
    nodes = [helper.make_node("Conv", ["x", "W1"], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2], name="/stem/Conv"),
             helper.make_node("Sigmoid", ["c1"], ["s"], name="/act/Sigmoid"),
             helper.make_node("Mul", ["c1", "s"], ["a"], name="/act/Mul"),
             helper.make_node("Conv", ["a", "W2"], ["c2"], group=8, pads=[0, 1, 2, 1], name="/blocks/blocks.0/dw/Conv"),
             helper.make_node("Add", ["a", "c2"], ["r"], name="/blocks/blocks.0/Add"),
             helper.make_node("GlobalAveragePool", ["r"], ["g"], name="/pool/GlobalAveragePool"),
             helper.make_node("Flatten", ["g"], ["f"], name="/Flatten"),
             helper.make_node("Gemm", ["f", "fcW", "fcB"], ["y"], transB=1, name="/fc/Gemm")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    model = tmp_path / "net.onnx"
    model.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    invoke("import", model, "--input-shape", "3,32,32", "-o", tmp_path / "net.yaml")
    report = analyze_json(model, "--input-shape", "3,32,32")
    assert analyze_json(tmp_path / "net.yaml") == report
    assert [layer["name"] for layer in report["layers"]] == [
        "stem", "act", "blocks.0.dw", "blocks.0.add", "pool", "flatten", "fc"]
    assert [layer["type"] for layer in report["layers"]] == [
        "conv", "silu", "depthwise", "add", "global_avgpool", "flatten", "linear"]


def test_input_shape_is_only_for_models():
    result = CliRunner().invoke(cli, ["analyze", str(ROOT / "specs/lenet5.yaml"), "--input-shape", "1,32,32"])
    assert result.exit_code == 2 and "--input-shape is for ONNX models" in result.stderr


def test_export_refuses_unknown_opsets_and_bad_weights(tmp_path):
    for args, words in ((["--opset", "9"], "opsets 13 to 21"), (["--weights", tmp_path / "none.npz"], "cannot read")):
        result = CliRunner().invoke(cli, ["export", str(ROOT / "specs/lenet5.yaml"), "-o", str(tmp_path / "m.onnx"),
                                          *map(str, args)])
        assert result.exit_code == 2 and words in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("opset", [13, 17, 18, 20])
def test_every_layer_type_exports_at_each_opset_and_runs(opset, tmp_path):
    """A spec using every layer type of contract §1 (both 1-D and 2-D), at several opsets."""
    pytest.importorskip("onnxruntime")
    from onnx_util import assert_close, fast_weights, model_bytes, netcalc_outputs, ort_outputs
    from test_onnx_specs import assert_same_layers

    from netcalc.analysis import analyze_graph
    from netcalc.graph import build_graph
    from netcalc.onnx.reader import load_onnx
    from netcalc.spec import load_spec_text

    text = """
input: [4, 12, 12]
layers:
  - {conv: {out: 8, kernel: 3, padding: same}, name: c}
  - {batchnorm: , name: bn}
  - {relu6: , name: r6}
  - {depthwise: {kernel: 3, stride: 2, padding: [[0, 1], [1, 0]], multiplier: 2}, name: dw}
  - {separable: {out: 8, kernel: 3, padding: 1, dilation: 1}, name: sep}
  - {leaky_relu: , name: lr}
  - {gelu: , name: ge}
  - {silu: , name: si}
  - {hardswish: , name: hs}
  - {tanh: , name: th}
  - {sigmoid: , name: sg}
  - {lrn: {size: 3}, name: ln}
  - {conv_transpose: {out: 6, kernel: 3, stride: 2, padding: 1, output_padding: 1}, name: up}
  - {maxpool: {kernel: 3, stride: 2, padding: 1, ceil_mode: true, dilation: 1}, name: mp}
  - {avgpool: {kernel: 2, stride: 1, count_include_pad: false, padding: 1}, name: ap}
  - {upsample: {scale: 2}, name: un}
  - {upsample: {size: [9, 11], mode: linear}, name: ul}
  - {adaptive_avgpool: {out: [4, 3]}, name: aa}
  - {adaptive_maxpool: {out: 2}, name: am, from: ul}
  - {global_maxpool: , name: gm, from: ul}
  - {mul: , from: [am, gm], name: se}
  - {global_avgpool: , name: ga, from: aa}
  - {add: , from: [ga, gm, ga], name: a3}
  - {concat: , from: [a3, gm], name: cat}
  - {spp: {levels: [1, 2, 3], mode: avg}, name: spp, from: ul}
  - {dropout: {p: 0.3}, name: dr}
  - {identity: , name: id}
  - {linear: {out: 5}, name: fc}
  - {softmax: , name: sm}
"""
    graph = build_graph(load_spec_text(text, "all.yaml"))
    weights = fast_weights(graph, seed=opset)
    model = tmp_path / "all.onnx"
    model.write_bytes(model_bytes(graph, weights, opset))
    x = np.random.default_rng(2).normal(size=(2, 4, 12, 12)).astype(np.float32)
    want = ort_outputs(model.read_bytes(), x)
    onnx_spec = load_onnx(model)
    assert_same_layers(analyze_graph(graph), analyze_graph(build_graph(onnx_spec)))  # export → import
    got = netcalc_outputs(build_graph(onnx_spec), onnx_spec.weights(), x, list(want))
    for name in want:
        assert_close(got[name], want[name], what=name)


def test_check_gates_an_onnx_model_with_an_answers_file(segnet, tmp_path):
    """CI budgets on a model: `check MODEL.onnx --answers` (a model has no expect: or limits: of its own)."""
    folder, _ = segnet
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("limits: {params: 27156, macs: 30M}\nup: {output: [16, 64, 64], params: 2064}\n")
    bad.write_text("limits: {params: 27K}\n")
    assert CliRunner().invoke(cli, ["check", str(folder / "tiny_segnet.onnx"), "--answers", str(good)]).exit_code == 0
    assert CliRunner().invoke(cli, ["check", str(folder / "tiny_segnet.onnx"), "--answers", str(bad)]).exit_code == 1


# ---- diff and draw on models (issue 10 follow-up) -----------------------------------------------
def _symbolic_copy(model_path, out_path):
    """The model with its input's spatial dims made symbolic (as a dynamic-axes PyTorch export)."""
    import onnx

    model = onnx.load(str(model_path))
    for dim in model.graph.input[0].type.tensor_type.shape.dim[2:]:
        dim.dim_param = "S"
    out_path.write_bytes(model.SerializeToString())
    return out_path


def test_diff_of_two_models_equals_the_diff_of_their_specs(segnet, tmp_path):
    folder, _ = segnet
    wider = tmp_path / "wider.yaml"
    wider.write_text((ROOT / "specs/tiny_segnet.yaml").read_text().replace("out: 16", "out: 24", 1))
    invoke("export", wider, "-o", tmp_path / "wider.onnx")
    from_models = json.loads(invoke("diff", folder / "tiny_segnet.onnx", tmp_path / "wider.onnx", "--format",
                                    "json").stdout)
    from_specs = json.loads(invoke("diff", ROOT / "specs/tiny_segnet.yaml", wider, "--format", "json").stdout)
    for report in (from_models, from_specs):
        report.pop("old"), report.pop("new")
    assert from_models == from_specs
    # the deltas are the differences of the two reports' totals (an independent path: analyze)
    old, new = analyze_json(folder / "tiny_segnet.onnx"), analyze_json(tmp_path / "wider.onnx")
    for key in ("params", "macs", "flops"):
        assert from_models["totals"][key]["delta"] == new["totals"][key] - old["totals"][key] != 0


def test_diff_and_draw_of_a_model_with_symbolic_dims_take_input_shape(segnet, tmp_path):
    folder, _ = segnet
    symbolic = _symbolic_copy(folder / "tiny_segnet.onnx", tmp_path / "symbolic.onnx")
    for args in (["diff", symbolic, folder / "tiny_segnet.onnx"], ["draw", symbolic, "-o", tmp_path / "x.dot"]):
        result = CliRunner().invoke(cli, [str(a) for a in args])
        assert result.exit_code == 2 and "--input-shape 3,?,?" in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    report = json.loads(invoke("diff", symbolic, folder / "tiny_segnet.onnx", "--input-shape", "3,64,64",
                               "--format", "json").stdout)
    assert {layer["status"] for layer in report["layers"]} == {"same"}
    invoke("draw", symbolic, "-o", tmp_path / "x.dot", "--input-shape", "3,64,64")
    assert (tmp_path / "x.dot").stat().st_size > 0


def test_draw_of_a_model_is_the_drawing_of_its_spec(segnet, tmp_path):
    """Same nodes (name, type, shape) and edges as the spec's drawing (netcalc's export keeps the layer
    names). Only a cluster's caption may differ: the spec knows `separable1` was one separable
    entry, the model only that its two layers share a name prefix."""
    import re

    folder, _ = segnet

    def nodes_and_edges(text):
        return [line for line in text.splitlines() if re.match(r"\s*n\d+ (\[|->)", line)]

    from_model = invoke("draw", folder / "tiny_segnet.onnx", "--format", "dot").stdout
    from_spec = invoke("draw", ROOT / "specs/tiny_segnet.yaml", "--format", "dot").stdout
    assert nodes_and_edges(from_model) == nodes_and_edges(from_spec)
    assert len(nodes_and_edges(from_model)) > 20
    invoke("draw", folder / "tiny_segnet.onnx", "-o", tmp_path / "net.mmd")
    text = (tmp_path / "net.mmd").read_text()
    from netcalc.graph import build_graph
    from netcalc.spec import load_spec

    for node in build_graph(load_spec(ROOT / "specs/tiny_segnet.yaml")).nodes:
        assert node.name in text
