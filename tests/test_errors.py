"""Every bad spec gives one line on stderr naming file, line and layer, exit code 2, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from netcalc.cli import cli

ROOT = Path(__file__).resolve().parents[1]

GOOD_HEAD = "input: [3, 32, 32]\nlayers:\n"

# (id, spec text, expected line, words the message must contain)
BAD_SPECS = [
    ("malformed-yaml", "input: [3, 32\nlayers: [relu]\n", 2, ["malformed YAML"]),
    ("not-a-mapping", "- relu\n- tanh\n", 1, ["must be a mapping"]),
    ("empty-layers", "input: [3, 8, 8]\nlayers: []\n", 2, ["non-empty list"]),
    ("missing-layers", "input: [3, 8, 8]\n", 1, ["no 'layers'"]),
    ("missing-input", "layers: [relu]\n", 1, ["no 'input'"]),
    ("bad-input", "input: [3, -1]\nlayers: [relu]\n", 1, ["'input' must be"]),
    ("unknown-top-key", "input: [3, 8, 8]\nlayer: [relu]\n", 2, ["unknown top-level key 'layer'", "did you mean 'layers'"]),
    ("unknown-type", GOOD_HEAD + "  - conv: {out: 8, kernel: 3}\n  - rleu\n", 4, ["unknown layer type 'rleu'", "did you mean 'relu'"]),
    ("unknown-param", GOOD_HEAD + "  - conv: {out: 8, kernal: 3}\n", 3, ["unknown parameter 'kernal'", "did you mean 'kernel'", "conv1"]),
    ("missing-param", GOOD_HEAD + "  - conv: {kernel: 3}\n", 3, ["needs parameter 'out'", "conv1"]),
    ("wrong-type", GOOD_HEAD + "  - conv: {out: eight, kernel: 3}\n", 3, ["'out' must be an integer"]),
    ("bool-not-int", GOOD_HEAD + "  - conv: {out: true, kernel: 3}\n", 3, ["'out' must be an integer"]),
    ("kernel-zero", GOOD_HEAD + "  - conv: {out: 8, kernel: 0}\n", 3, ["'kernel' must be ≥ 1"]),
    ("stride-negative", GOOD_HEAD + "  - conv: {out: 8, kernel: 3, stride: -1}\n", 3, ["'stride' must be ≥ 1"]),
    ("dilation-zero", GOOD_HEAD + "  - maxpool: {kernel: 2, dilation: 0}\n", 3, ["'dilation' must be ≥ 1"]),
    ("collapse", GOOD_HEAD + "  - conv: {out: 8, kernel: 3, stride: 2}\n  - conv: {out: 8, kernel: 17}\n", 4,
     ["smaller than the kernel", "conv2"]),
    ("groups", GOOD_HEAD + "  - conv: {out: 8, kernel: 3, groups: 2}\n", 3, ["groups=2 does not divide the 3 input channels"]),
    ("add-mismatch", GOOD_HEAD + "  - conv: {out: 8, kernel: 3}\n    name: a\n  - add:\n    from: [a, input]\n", 5,
     ["add needs input shapes that are equal", "a [8, 30, 30]", "input [3, 32, 32]"]),
    ("concat-mismatch", GOOD_HEAD + "  - maxpool: {kernel: 2}\n  - concat:\n    from: [maxpool1, input]\n", 4,
     ["concat needs inputs with equal spatial sizes"]),
    ("mul-mismatch", GOOD_HEAD + "  - maxpool: {kernel: 2}\n  - mul:\n    from: [maxpool1, input]\n", 4, ["mul needs"]),
    ("unknown-from", GOOD_HEAD + "  - relu\n  - add:\n    from: [relu1, rleu1]\n", 5, ["unknown layer 'rleu1'", "did you mean 'relu1'"]),
    ("forward-from", GOOD_HEAD + "  - add:\n    from: [input, later]\n  - relu\n    \n  - tanh:\n    name: later\n", 4,
     ["further down"]),
    ("self-from", GOOD_HEAD + "  - relu:\n    name: me\n    from: me\n", 5, ["further down (or to itself)"]),
    ("duplicate-name", GOOD_HEAD + "  - relu:\n    name: a\n  - tanh:\n    name: a\n", 6, ["'a' is used twice", "line 3"]),
    ("auto-name-clash", GOOD_HEAD + "  - relu:\n    name: relu2\n  - relu\n  - relu\n", 5, ["'relu2' is used twice"]),
    ("dotted-name", GOOD_HEAD + "  - relu:\n    name: a.b\n", 4, ["may not contain a dot"]),
    ("linear-on-spatial", GOOD_HEAD + "  - linear: {out: 10}\n", 3, ["needs a flat vector", "flatten"]),
    ("conv-on-flat", GOOD_HEAD + "  - flatten\n  - conv: {out: 8, kernel: 3}\n", 4, ["needs a tensor with spatial dims"]),
    ("merge-one-input", GOOD_HEAD + "  - add\n", 3, ["needs at least 2 inputs"]),
    ("two-type-keys", GOOD_HEAD + "  - conv: {out: 8, kernel: 3}\n    relu: {}\n", 3, ["exactly one layer-type key"]),
    ("python-tag", "input: !!python/object/apply:os.system [echo hi]\nlayers: [relu]\n", 1, ["tag", "not allowed"]),
    ("padding-list-length", GOOD_HEAD + "  - conv: {out: 8, kernel: 3, padding: [1, 1, 1]}\n", 3, ["3 values", "2 spatial dims"]),
    ("padding-word", GOOD_HEAD + "  - conv: {out: 8, kernel: 3, padding: sme}\n", 3, ["did you mean 'same'"]),
    ("same-strided", GOOD_HEAD + "  - conv: {out: 8, kernel: 3, stride: 2, padding: same}\n", 3, ["'same' needs stride 1"]),
    ("upsample-needs", GOOD_HEAD + "  - upsample: {mode: nearest}\n", 3, ["exactly one of 'scale' or 'size'"]),
    ("pool-pad", GOOD_HEAD + "  - maxpool: {kernel: 2, padding: 2}\n", 3, ["more than half the window"]),
    ("output-padding", GOOD_HEAD + "  - deconv: {out: 2, kernel: 3, stride: 2, output_padding: 2}\n", 3,
     ["output_padding 2 must be smaller"]),
    ("repeat-bad", GOOD_HEAD + "  - relu:\n    repeat: 0\n", 4, ["'repeat' must be a positive integer"]),
    ("duplicate-key", GOOD_HEAD + "  - conv: {out: 8, out: 9, kernel: 3}\n", 3, ["duplicate key 'out'"]),
    ("alias-twice", GOOD_HEAD + "  - conv: {out: 8, kernel: 3, kernel_size: 3}\n", 3, ["given twice"]),
]

# contract §7 activations (issue 9)
BAD_SPECS += [
    ("hardtanh-min-max", GOOD_HEAD + "  - relu\n  - hardtanh:\n      min: 1\n      max: 1\n", 6,
     ["hardtanh1", "min < max", "min 1", "max 1"]),
    ("hardtanh-aliases-reversed", GOOD_HEAD + "  - hardtanh: {min_val: 2, max_val: -2}\n", 3, ["min < max"]),
    ("softplus-beta-zero", GOOD_HEAD + "  - softplus: {beta: 0}\n", 3, ["softplus1", "beta", "must not be 0"]),
    ("elu-alpha-word", GOOD_HEAD + "  - elu: {alpha: x}\n", 3, ["'alpha' must be a number"]),
    ("prelu-per-channel-int", GOOD_HEAD + "  - prelu: {per_channel: 3}\n", 3, ["'per_channel' must be true or false"]),
    ("prelu-num-parameters", GOOD_HEAD + "  - prelu: {num_parameters: 4}\n", 3,
     ["prelu1", "num_parameters must be 1 or the input's 3 channels, got 4"]),
    ("prelu-num-parameters-vs-per-channel", GOOD_HEAD + "  - prelu: {per_channel: true, num_parameters: 1}\n", 3,
     ["per_channel: true has 3 slopes", "num_parameters says 1"]),
    ("selu-takes-nothing", GOOD_HEAD + "  - selu: {alpha: 1}\n", 3, ["unknown parameter 'alpha'", "selu takes no parameters"]),
    ("softplus-typo", GOOD_HEAD + "  - softplus: {treshold: 5}\n", 3, ["did you mean 'threshold'"]),
    ("mish-typo", GOOD_HEAD + "  - mihs\n", 3, ["unknown layer type 'mihs'", "did you mean 'mish'"]),
]
# contract §7 normalisations and residual-branch helpers (issue 9)
BAD_SPECS += [
    ("groupnorm-groups", GOOD_HEAD + "  - groupnorm: {groups: 2}\n", 3,
     ["groups=2 does not divide the 3 input channels", "groupnorm1"]),
    ("groupnorm-needs-groups", GOOD_HEAD + "  - groupnorm\n", 3, ["needs parameter 'groups'"]),
    ("groupnorm-zero", GOOD_HEAD + "  - groupnorm: {num_groups: 0}\n", 3, ["'groups' must be ≥ 1"]),
    ("drop-path-p", GOOD_HEAD + "  - relu\n  - drop_path: {p: 1.5}\n", 4, ["'p' is a probability, at most 1", "drop_path1"]),
    ("drop-path-negative", GOOD_HEAD + "  - stochastic_depth: {p: -0.1}\n", 3, ["'p' must be ≥ 0"]),
    ("instancenorm-flat", GOOD_HEAD + "  - flatten\n  - instancenorm\n", 4, ["needs a tensor with spatial dims"]),
    ("layernorm-eps", GOOD_HEAD + "  - layernorm: {eps: -1}\n", 3, ["'eps' must be ≥ 0"]),
    ("layernorm-affine", GOOD_HEAD + "  - layernorm: {affine: yes please}\n", 3, ["'affine' must be true or false"]),
    ("layernorm-typo", GOOD_HEAD + "  - layernorm: {elementwise_afine: false}\n", 3, ["did you mean 'elementwise_affine'"]),
    ("scale-param", GOOD_HEAD + "  - layer_scale: {init: 1.0e-6}\n", 3, ["unknown parameter 'init'"]),
]


def run(path):
    return CliRunner().invoke(cli, ["analyze", str(path)])


@pytest.mark.parametrize("case", BAD_SPECS, ids=[c[0] for c in BAD_SPECS])
def test_bad_spec_gives_one_located_line(tmp_path, case):
    name, text, line, words = case
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    result = run(path)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"netcalc: error: {path}:{line}:"), lines[0]
    for word in words:
        assert word in lines[0]
    assert "Traceback" not in result.stderr


def _alias_bomb(levels: int = 9) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\ninput: [3, 8, 8]\nlayers: [relu]\n"


@pytest.mark.parametrize("content,words", [
    (b"", ["empty file"]),
    (b"\x00\x01\x02binary\xff", ["binary file"]),
    (b"input: [3, 8]\nlayers: [\xff\xfe]\n", ["not UTF-8"]),
    (_alias_bomb().encode(), ["expands to more than"]),
])
def test_hostile_files(tmp_path, content, words):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    result = run(path)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert all(w in result.stderr for w in words), result.stderr


def test_missing_file():
    result = run("/nonexistent/net.yaml")
    assert result.exit_code == 2 and "cannot read file" in result.stderr


def test_python_tag_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.yaml"
    path.write_text(f"input: !!python/object/apply:os.system ['touch {marker}']\nlayers: [relu]\n")
    assert run(path).exit_code == 2
    assert not marker.exists()


def test_real_process_prints_no_traceback(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD_HEAD + "  - conv: {out: 8, kernel: 40}\n")
    proc = subprocess.run([sys.executable, "-m", "netcalc", "analyze", str(path)], capture_output=True,
                          text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and f"{path}:3:" in proc.stderr and "conv1" in proc.stderr


# ---- ONNX models (contract §8): bad or unsupported files are one line, exit 2 ------------------------
def _onnx_model(nodes, inits=None, dims=("N", 3, 8, 8), domain_ops=()):
    onnx = pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(dims))],
                              [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, None)], inits)
    opsets = [helper.make_opsetid("", 17), *(helper.make_opsetid(d, 1) for d in domain_ops)]
    return helper.make_model(graph, opset_imports=opsets).SerializeToString()


def _onnx_cases():
    from onnx import helper

    relu = helper.make_node("Relu", ["x"], ["y"], name="r")
    good = _onnx_model([relu])
    return [
        ("truncated", good[: len(good) // 2], ["not an ONNX model"]),
        ("text", b"input: [3, 8, 8]\nlayers: [relu]\n", ["not an ONNX model"]),
        ("empty", b"", ["empty file"]),
        ("unsupported-op", _onnx_model([helper.make_node("Einsum", ["x", "x"], ["y"], equation="ij,jk->ik",
                                                         name="mix")]),
         ["node 'mix' (Einsum)", "does not support this op", "Conv"]),
        ("custom-domain", _onnx_model([helper.make_node("Fancy", ["x"], ["y"], domain="com.example", name="f")],
                                      domain_ops=["com.example"]), ["node 'f' (Fancy)", "not standard ONNX"]),
        ("dynamic-spatial", _onnx_model([relu], dims=("N", 3, "H", "W")), ["symbolic dims", "--input-shape 3,?,?"]),
        ("attribute-not-honoured", _onnx_model([helper.make_node("LeakyRelu", ["x"], ["y"], alpha=0.2, name="lr")]),
         ["node 'lr' (LeakyRelu)", "slope 0.01"]),
        ("data-dependent-reshape", _onnx_model([helper.make_node("Reshape", ["x", "x"], ["y"], name="rs")]),
         ["node 'rs' (Reshape)", "not a constant"]),
        ("bad-conv-groups", _onnx_model([helper.make_node("Conv", ["x", "W"], ["y"], group=2, name="c")],
                                        {"W": __import__("numpy").zeros((4, 2, 3, 3), "float32")}),
         ["node 'c' (Conv)", "groups=2 does not divide the 3 input channels"]),
    ]


def test_bad_onnx_files_give_one_line(tmp_path):
    pytest.importorskip("onnx")
    for name, content, words in _onnx_cases():
        path = tmp_path / f"{name}.onnx"
        path.write_bytes(content)
        result = run(path)
        assert result.exit_code == 2, (name, result.output)
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (name, result.stderr)
        assert lines[0].startswith(f"netcalc: error: {path}"), lines[0]
        for word in words:
            assert word in lines[0], (name, lines[0])


def test_onnx_external_data_outside_the_model_folder_is_refused(tmp_path):
    pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper

    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.zeros(36, np.float32).tobytes())
    folder = tmp_path / "model"
    folder.mkdir()
    weight = TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[4, 1, 3, 3])
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "../secret.bin"), ("offset", "0"), ("length", str(36 * 4))):
        weight.external_data.add(key=key, value=value)
    node = helper.make_node("Conv", ["x", "W"], ["y"], group=1, name="c")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [weight])
    path = folder / "m.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    assert run(path).exit_code == 0  # analysing reads only the dims
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 8, 8), np.float32))
    result = CliRunner().invoke(cli, ["run", str(path), "--input", str(tmp_path / "x.npy"),
                                      "--save", str(tmp_path / "out.npz")])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "outside the model's folder" in result.stderr
