"""Batch, precision and memory (contract §9), proven against numbers worked by hand, the seed
notes' CPR rule, the published VGG-16 split of parameters, and the executor's real allocations
(tracemalloc). The PyTorch comparison lives in tests/test_memory_torch.py."""

from __future__ import annotations

import json
from math import prod
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from helpers import analyze_spec
from netcalc.analysis import analyze_file, analyze_graph, spec_setting
from netcalc.cli import cli
from netcalc.graph import build_graph
from netcalc.memory import Setting
from netcalc.spec import load_spec, load_spec_text

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"


def analysis_at(input_shape, layers, batch=1, dtype="float32", optimizer="adam"):
    doc = {"input": list(input_shape), "layers": layers}
    graph = build_graph(load_spec_text(yaml.safe_dump(doc, sort_keys=False), "m.yaml"))
    return analyze_graph(graph, Setting(batch, dtype, optimizer))


def saved(input_shape, layers, batch=2, dtype="float32"):
    """Per layer, the bytes it keeps for backward that no earlier layer keeps already."""
    a = analysis_at(input_shape, layers, batch, dtype)
    return {k.name: k.new_bytes for k in a.memory.training.layers}, a.memory


# ---------------------------------------------------------------------------
# CPR (seed notes: Calculations(MAC) = I·J·M·N·K·L, CPR = Calculations / Params = M·N)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape, conv, spatial", [
    ([3, 32, 32], {"out": 8, "kernel": 3, "bias": False}, 30 * 30),
    ([16, 56, 56], {"out": 32, "kernel": 3, "stride": 2, "padding": 1, "bias": False}, 28 * 28),
    ([4, 20], {"out": 6, "kernel": 5, "bias": False}, 16),
    ([2, 9, 9, 9], {"out": 3, "kernel": 3, "groups": 1, "bias": False}, 7 * 7 * 7),
    ([8, 12, 12], {"out": 8, "kernel": 3, "groups": 4, "bias": False}, 10 * 10),
])
def test_conv_cpr_without_bias_is_the_output_spatial_size(shape, conv, spatial):
    layer = analyze_spec(shape, [{"conv": conv}]).layers[0]
    assert layer.cpr == spatial


def test_linear_cpr_without_bias_is_one_and_with_bias_below_one():
    assert analyze_spec([100], [{"linear": {"out": 7, "bias": False}}]).layers[0].cpr == 1
    # with bias: in·out / (in·out + out) = 100·7 / 707
    assert analyze_spec([100], [{"linear": {"out": 7}}]).layers[0].cpr == pytest.approx(700 / 707)


def test_cpr_is_null_without_params_and_a_batch_multiplies_it(tmp_path):
    spec = tmp_path / "c.yaml"
    spec.write_text("input: [3, 10, 10]\nlayers:\n  - conv: {out: 4, kernel: 3, bias: false}\n  - relu\n")
    doc = json.loads(CliRunner().invoke(cli, ["analyze", str(spec), "--format", "json", "--batch", "8"]).stdout)
    conv, relu = doc["layers"]
    assert conv["cpr"] == 64 and relu["cpr"] is None  # 8·8 output positions
    totals = doc["totals"]
    assert totals["batch"] == 8 and totals["dtype"] == "float32"
    assert totals["macs_batch"] == 8 * totals["macs"] and totals["flops_batch"] == 8 * totals["flops"]
    # the seed notes: a batch of B raises the CPR B-fold — MACs of the batch per parameter
    assert totals["macs_batch"] / conv["params"] == 8 * conv["cpr"]


def test_vgg16_linear_layers_hold_most_params_and_few_macs():
    """Published VGG-16 (torchvision): 138,357,544 params; the three FC layers hold
    25088·4096 + 4096 + 4096·4096 + 4096 + 4096·1000 + 1000 = 123,642,856 of them."""
    a = analyze_file(SPECS / "vgg16.yaml")
    kinds = {k["kind"]: k for k in a.by_family()}
    fc = 25088 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 1000 + 1000
    assert a.total("params") == 138_357_544 and kinds["linear"]["params"] == fc
    assert kinds["linear"]["params_share"] == pytest.approx(0.894, abs=0.001)
    assert kinds["linear"]["macs_share"] < 0.01
    assert kinds["conv"]["macs_share"] > 0.99


# ---------------------------------------------------------------------------
# Training: what each layer type keeps, worked by hand
# ---------------------------------------------------------------------------

# input [4, 8, 8], batch 2, float32; `c` is a 1×1 conv (so a gradient flows after it) whose output
# X is 2·4·8·8 = 512 elements = 2048 B; c itself keeps the network input, also 2048 B.
X = 2 * 4 * 8 * 8 * 4
C = {"conv": {"out": 4, "kernel": 1}, "name": "c"}


@pytest.mark.parametrize("entry, expected", [
    ("relu", X), ("sigmoid", X), ("tanh", X), ("softmax", X),  # their output, a new tensor
    ("relu6", X), ("leaky_relu", X), ("gelu", X), ("silu", X), ("hardswish", X),  # their input: c's output
    ("batchnorm", X + 2 * 4 * 4),  # input + batch mean and inverse std, float32 per channel
    ("dropout", 2 * 4 * 8 * 8),  # a 1-byte mask per element
    ({"maxpool": {"kernel": 2}}, X + 2 * 4 * 4 * 4 * 8),  # input + int64 indices of the 4×4 output
    ({"avgpool": {"kernel": 2}}, X),
    ({"adaptive_avgpool": {"out": 2}}, X),
    ({"adaptive_avgpool": {"out": 1}}, 0),  # PyTorch takes a mean: only sizes
    ("global_avgpool", 0),
    ("global_maxpool", X + 2 * 4 * 8),
    ({"adaptive_maxpool": {"out": 2}}, X + 2 * 4 * 2 * 2 * 8),
    ({"spp": {"levels": [1, 2]}}, X + 2 * 4 * (1 + 4) * 8),
    ({"spp": {"levels": [1, 2], "mode": "avg"}}, X),
    ({"spp": {"levels": [1], "mode": "avg"}}, 0),
    ({"upsample": {"scale": 2}}, 0), ({"upsample": {"scale": 2, "mode": "linear"}}, 0),
    ({"conv": {"out": 3, "kernel": 3}}, X), ({"depthwise": {"kernel": 3}}, X),
    ({"conv_transpose": {"out": 3, "kernel": 2, "stride": 2}}, X),
    ({"separable": {"out": 3, "kernel": 3}}, X),  # its depthwise keeps X; its pointwise comes next
    # lrn (PyTorch's functional form): input, the squares padded on channels (C + size − 1 = 6),
    # the base k + α·avg and the denominator, each input-sized
    ({"lrn": {"size": 3}}, X + 2 * 6 * 64 * 4 + X + X),
    ("identity", 0), ("flatten", 0),
    # contract §7 types
    ("elu", X), ("selu", X), ("mish", X), ("softplus", X), ("hardtanh", X), ("hardsigmoid", X), ("prelu", X),
    ("layernorm", X + 2 * (2 * 8 * 8) * 4),  # mean and 1/std per sample and position, float32
    ({"groupnorm": {"groups": 2}}, X + 2 * (2 * 2) * 4),  # … per sample and group
    ("instancenorm", X + 2 * (2 * 4) * 4),  # … per sample and channel
    ({"instancenorm": {"affine": True}}, X + 3 * (2 * 4) * 4),  # and the weight repeated per sample
    ("scale", X), ({"scale": {"bias": True}}, X),
    ({"drop_path": {"p": 0.2}}, 2 * 4),  # one keep value per sample
    ({"drop_path": {"p": 0}}, 0),
    ({"channel_shuffle": {"groups": 2}}, 0), ({"pixel_shuffle": {"factor": 2}}, 0),
    ({"pixel_unshuffle": {"factor": 2}}, 0), ({"slice": {"start": 1}}, 0),
    ({"pad": {"padding": 1, "mode": "reflect"}}, X), ({"pad": {"padding": 1, "mode": "replicate"}}, X),
    ({"pad": {"padding": 1}}, 0), ({"pad": {"padding": 1, "mode": "circular"}}, 0),
])
def test_each_type_keeps_what_autograd_saves(entry, expected):
    per_layer, _ = saved([4, 8, 8], [C, entry])
    assert per_layer["c"] == 2 * 4 * 8 * 8 * 4  # the network input
    assert list(per_layer.values())[1] == expected


def test_merges_keep_nothing_and_mul_keeps_its_factors():
    gate = [C, {"global_avgpool": None, "name": "g"}, {"sigmoid": None, "name": "s"},
            {"mul": None, "from": ["c", "s"], "name": "m"}, {"add": None, "from": ["m", "c"], "name": "a"},
            {"concat": None, "from": ["a", "m"], "name": "cat"}]
    per_layer, _ = saved([4, 8, 8], gate)
    assert per_layer["g"] == 0 and per_layer["s"] == 2 * 4 * 4  # sigmoid keeps its [4, 1, 1] output
    # mul keeps c's output (for the gate's gradient) and the gate (already kept by sigmoid)
    assert per_layer["m"] == X
    assert per_layer["a"] == 0 and per_layer["cat"] == 0


def test_no_gradient_before_the_first_parameters_means_nothing_kept():
    per_layer, memory = saved([4, 8, 8], ["relu", {"maxpool": {"kernel": 2}}, {"conv": {"out": 2, "kernel": 1}}])
    # relu and maxpool act on the input, which needs no gradient: no backward runs there
    assert per_layer["relu1"] == 0 and per_layer["maxpool1"] == 0
    assert per_layer["conv1"] == 2 * 4 * 4 * 4 * 4  # the conv keeps its (pooled) input for its weight gradient
    assert memory.training.input == 2 * 4 * 8 * 8 * 4  # nobody keeps the network input: counted on its own


def test_a_tensor_several_layers_keep_is_counted_once():
    # relu keeps its output; maxpool keeps the same tensor as its input; the linear layer keeps a
    # flatten (a view) of it too
    layers = [C, "relu", {"maxpool": {"kernel": 8}}, "flatten", {"linear": {"out": 3}}]
    per_layer, memory = saved([4, 8, 8], layers)
    assert per_layer["relu1"] == X
    assert per_layer["maxpool1"] == 2 * 4 * 8  # only its indices are new
    assert per_layer["linear1"] == 2 * 4 * 4  # the pooled [4] vector; flatten1 is a view of it
    # a conv reading a channel slice keeps the slice's whole source (a view keeps its memory)
    per_layer, _ = saved([4, 8, 8], [C, "relu", {"slice": {"start": 2}}, {"conv": {"out": 2, "kernel": 1}}])
    assert per_layer["slice1"] == 0 and per_layer["conv2"] == 0  # relu's whole output, kept by relu
    per_layer, _ = saved([4, 8, 8], [C, "elu", {"slice": {"start": 2}}, {"conv": {"out": 2, "kernel": 1}}])
    assert per_layer["conv2"] == X  # elu keeps c's output; the conv keeps all of elu's output
    views = [C, "relu", "flatten", {"linear": {"out": 3}}]
    per_layer, _ = saved([4, 8, 8], views)
    assert per_layer["linear1"] == 0  # a view of relu's output, which relu keeps already
    assert memory.training.saved == 2048 + X + 2 * 4 * 8 + 2 * 4 * 4


def test_mixed_precision_halves_activations_not_statistics_indices_or_masks():
    layers = [C, "batchnorm", {"maxpool": {"kernel": 2}}, "dropout"]
    per_layer, memory = saved([4, 8, 8], layers, batch=2, dtype="bfloat16")
    half = 2 * 4 * 8 * 8 * 2
    assert per_layer["c"] == half and per_layer["batchnorm1"] == half + 2 * 4 * 4
    # its input (batchnorm's output, a new 16-bit tensor) and int64 indices of its 4×4 output
    assert per_layer["maxpool1"] == half + 2 * 4 * 4 * 4 * 8
    assert per_layer["dropout1"] == 2 * 4 * 4 * 4


def test_training_totals_by_hand():
    # conv 3→8, k3, bias: 8·3·9 + 8 = 224 params; batchnorm: 16 params, 16 buffers; linear 8·6·6 → 5
    layers = [{"conv": {"out": 8, "kernel": 3}}, "batchnorm", "relu", "flatten", {"linear": {"out": 5}}]
    params = 224 + 16 + (288 * 5 + 5)
    for optimizer, copies in (("sgd", 0), ("momentum", 1), ("adam", 2), ("adamw", 2)):
        t = analysis_at([3, 8, 8], layers, batch=4, optimizer=optimizer).memory.training
        assert (t.params, t.gradients, t.optimizer, t.weights_copy) == (4 * params, 4 * params,
                                                                         copies * 4 * params, 0)
    m = analysis_at([3, 8, 8], layers, batch=4, dtype="float16").memory
    t = m.training
    # float32 master weights, gradients and Adam state; a 16-bit working copy; 16-bit activations
    assert (t.params, t.gradients, t.optimizer, t.weights_copy, t.buffers) == (
        4 * params, 4 * params, 8 * params, 2 * params, 4 * 16)
    conv_in, conv_out = 4 * 3 * 64 * 2, 4 * 8 * 36 * 2
    assert t.saved == conv_in + (conv_out + 4 * 16) + conv_out  # conv, batchnorm, relu (linear: relu's view)
    assert t.input == 0 and t.total == t.params + t.buffers + t.weights_copy + t.saved + t.gradients + t.optimizer
    # inference at float16: weights and buffers in 16 bits
    assert (m.params, m.buffers, m.input) == (2 * params, 2 * 16, conv_in)


def test_int8_inference_is_one_byte_and_training_is_float32():
    layers = [{"conv": {"out": 8, "kernel": 3}}, "relu"]
    m8 = analysis_at([3, 8, 8], layers, batch=2, dtype="int8").memory
    m32 = analysis_at([3, 8, 8], layers, batch=2).memory
    assert m8.params == 224 and m8.activations == 2 * 2 * 8 * 36
    assert m8.training.to_dict() == m32.training.to_dict()


# ---------------------------------------------------------------------------
# Inference: the executor's liveness plan, by hand and measured
# ---------------------------------------------------------------------------

def test_inference_peak_by_hand_on_a_residual_block():
    # input [2, 8, 8] (kept by the caller: 128 elements), a = conv (8·64 = 512), b = relu (512),
    # c = conv (512), d = add(c, a) (512). While `c` runs, a and b are alive (a is read by d):
    # a + b + c = 1536; while `d` runs: a + c + d = 1536; relu: a + b = 1024.
    layers = [{"conv": {"out": 8, "kernel": 3, "padding": 1}, "name": "a"}, {"relu": None, "name": "b"},
              {"conv": {"out": 8, "kernel": 3, "padding": 1}, "name": "c"}, {"add": None, "from": ["c", "a"], "name": "d"}]
    m = analysis_at([2, 8, 8], layers, batch=3).memory
    params = (8 * 2 * 9 + 8) + (8 * 8 * 9 + 8)
    assert m.activations_peak == 3 * 1536 * 4 and m.peak_layer == "c"
    assert m.inference_peak == 3 * 128 * 4 + 3 * 1536 * 4 + 4 * params


def _graph(name):
    return build_graph(load_spec(SPECS / f"{name}.yaml"))


@pytest.mark.parametrize("name, batch", [("lenet5", 4), ("tiny_segnet", 2), ("audio_m5", 1),
                                         ("resnet18", 1), ("mobilenet_v2", 1), ("deeplab_aspp", 1)])
def test_inference_peak_against_the_executors_measured_peak(name, batch):
    """tracemalloc on numpy's allocations right after each layer's output exists: the calculated
    peak is never below and within 10 %."""
    from netcalc.verification import measure_peak

    graph = _graph(name)
    measured, _ = measure_peak(graph, batch)
    calculated = analyze_graph(graph, Setting(batch)).memory.inference_peak
    assert measured <= calculated <= 1.10 * measured


def test_liveness_plan_by_hand():
    from netcalc import liveness

    layers = [{"conv": {"out": 8, "kernel": 3, "padding": 1}, "name": "a"}, {"relu": None, "name": "b"},
              {"conv": {"out": 8, "kernel": 3, "padding": 1}, "name": "c"}, {"add": None, "from": ["c", "a"], "name": "d"}]
    graph = analysis_at([2, 8, 8], layers).graph
    steps = [(s.node.name, s.live, s.frees) for s in liveness.plan(graph)]
    assert steps == [("a", ("input",), ("input",)), ("b", ("a",), ()), ("c", ("a", "b"), ("b",)),
                     ("d", ("a", "c"), ("c", "a"))]


@pytest.mark.parametrize("name", ["googlenet", "unet", "densenet121", "tiny_segnet"])
def test_liveness_peak_equals_the_largest_live_set_of_the_plan(name):
    # peak() sweeps a running total; here the definition: at each step, the sum over every
    # activation the plan says is alive, plus the new output
    from netcalc import liveness

    graph = _graph(name)
    size = {node.name: prod(node.out_shape) for node in graph.nodes}
    size["input"] = prod(graph.input_shape)
    best = max(sum(size[n] for n in step.live) + size[step.node.name] for step in liveness.plan(graph))
    assert liveness.peak(graph, size.__getitem__)[0] == max(best, size["input"])


# ---------------------------------------------------------------------------
# Spec keys, budgets, CLI
# ---------------------------------------------------------------------------

BUDGET = """\
name: budget
input: [3, 64, 64]
batch: 64
dtype: bfloat16
optimizer: adamw
limits: {{training_memory: {training}, inference_memory: 1GB}}
layers:
  - conv: {{out: 32, kernel: 3, padding: 1}}
  - batchnorm
  - relu
  - maxpool: {{kernel: 2}}
  - flatten
  - linear: {{out: 10}}
"""


def test_spec_batch_dtype_optimizer_keys_set_the_default_setting(tmp_path):
    spec = load_spec_text(BUDGET.format(training="50MB"), "b.yaml")
    assert (spec.batch, spec.dtype, spec.optimizer) == (64, "bfloat16", "adamw")
    assert spec_setting(spec) == Setting(64, "bfloat16", "adamw")
    assert spec_setting(spec, batch=2, dtype="float32") == Setting(2, "float32", "adamw")


def test_a_failing_training_budget_explains_itself(tmp_path):
    spec = tmp_path / "b.yaml"
    spec.write_text(BUDGET.format(training="50MB"))
    result = CliRunner().invoke(cli, ["check", str(spec), "--format", "json"])
    assert result.exit_code == 1
    checks = {c["key"]: c for c in json.loads(result.stdout)["checks"]}
    train = checks["training_memory"]
    assert not train["ok"] and checks["inference_memory"]["ok"]
    # batch 64, bf16: conv keeps the input (64·3·64·64·2), batchnorm conv's output (64·32·64·64·2) and
    # 2·32 float32 stats, relu its output, maxpool int64 indices (64·32·32·32·8), linear the pooled
    # vector (64·32768·2)
    saved = 64 * 3 * 4096 * 2 + 64 * 32 * 4096 * 2 + 256 + 64 * 32 * 4096 * 2 + 64 * 32768 * 8 + 64 * 32768 * 2
    params = 896 + 64 + 327690
    total = saved + 4 * params + 4 * params + 8 * params + 2 * params + 4 * 64
    assert train["actual"] == total and train["expected"] == 50 * 2**20
    text = "\n".join(train["explanation"])
    assert f"saved for backward: {saved:,} B" in text and "optimizer state (adamw)" in text
    assert "16-bit copy of the weights" in text
    # the same budget holds at batch 1
    assert CliRunner().invoke(cli, ["check", str(spec), "--batch", "1"]).exit_code == 0


@pytest.mark.parametrize("top, message", [
    ("batch: 0", "'batch' must be a positive integer"),
    ("batch: two", "'batch' must be a positive integer"),
    ("dtype: float64", "'dtype' must be one of float32, float16, bfloat16, int8"),
    ("optimizer: adamm", "did you mean 'adam"),
])
def test_bad_setting_keys_are_one_line_errors(tmp_path, top, message):
    spec = tmp_path / "bad.yaml"
    spec.write_text(f"input: [1, 4, 4]\n{top}\nlayers:\n  - relu\n")
    result = CliRunner().invoke(cli, ["analyze", str(spec)])
    assert result.exit_code == 2
    assert message in result.stderr and f"{spec}:2:" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_json_memory_object_and_table_summary(tmp_path):
    spec = tmp_path / "b.yaml"
    spec.write_text(BUDGET.format(training="50MB"))
    runner = CliRunner()
    doc = json.loads(runner.invoke(cli, ["analyze", str(spec), "--format", "json", "--dtype", "float32",
                                         "--batch", "2", "--optimizer", "sgd"]).stdout)
    m = doc["memory"]
    assert set(m) >= {"input", "params", "buffers", "activations", "inference_peak", "training"}
    assert set(m["training"]) >= {"saved", "gradients", "optimizer", "total"}
    assert m["training"]["optimizer"] == 0 and m["input"] == 2 * 3 * 4096 * 4
    assert m["activations"] == sum(layer["memory"]["output"] for layer in doc["layers"])
    assert m["training"]["saved"] == sum(layer["memory"]["saved"] for layer in doc["layers"])
    table = runner.invoke(cli, ["analyze", str(spec)], env={"COLUMNS": "120"}).stdout
    assert "memory at batch 64, bfloat16:" in table and "inference peak" in table
    assert "training step" in table and "(adamw, mixed precision)" in table
    csv_text = runner.invoke(cli, ["analyze", str(spec), "--format", "csv"]).stdout
    total_row = csv_text.strip().splitlines()[-1].split(",")
    header = csv_text.splitlines()[0].split(",")
    assert int(total_row[header.index("training_total")]) == json.loads(
        runner.invoke(cli, ["analyze", str(spec), "--format", "json"]).stdout)["memory"]["training"]["total"]


def test_verify_memory_flag_compares_with_the_executor(tmp_path):
    result = CliRunner().invoke(cli, ["verify", str(SPECS / "lenet5.yaml"), "--memory", "--batch", "2",
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    check = doc["memory_check"]
    assert check["ok"] and check["measured"] <= check["calculated"]
    assert doc["memory"]["batch"] == 2


def test_explain_shows_a_layers_memory_arithmetic(tmp_path):
    spec = tmp_path / "b.yaml"
    spec.write_text(BUDGET.format(training="50MB"))
    out = CliRunner().invoke(cli, ["explain", str(spec), "--layer", "maxpool1"]).stdout
    assert "output: 64·32768 elements · 2 B (bfloat16) = 4,194,304 B" in out
    assert "already kept by 'relu1'" in out
    assert "int64 indices of its output [32, 32, 32] × batch 64: 2,097,152 elements · 8 B = 16,777,216 B" in out


def test_budgets_and_keys_are_in_the_schema():
    from netcalc.schema import spec_schema

    schema = spec_schema()
    assert {"inference_memory", "training_memory"} <= set(schema["properties"]["limits"]["properties"])
    assert {"batch", "dtype", "optimizer"} <= set(schema["properties"])
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(yaml.safe_load(BUDGET.format(training="50MB")), schema)


# ---------------------------------------------------------------------------
# The registry declares, the README shows what it declares
# ---------------------------------------------------------------------------

def test_every_layer_type_declares_what_it_keeps_for_backward():
    from netcalc import memory  # noqa: F401
    from netcalc.layers import LayerType, load_all

    undeclared = [kind.name for kind in load_all().values()
                  if isinstance(kind, LayerType) and kind.saved is None and not kind.saved_rule]
    assert undeclared == []


def test_readme_saved_table_matches_the_registry():
    from netcalc import docs

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert docs.saved_block() in readme, "run `python -m netcalc.docs --write`"
