"""The layer types of contract §7 written to ONNX (`netcalc export`) and read back.

For each case (a small spec using the type, at the opsets whose ONNX form differs):
- onnxruntime (an independent engine) runs the exported model on a seeded batch of two and its
  output equals netcalc's executor on the spec itself, with the same weights, to 1e-4 relative;
- reading the file back gives the spec's layers, shapes and counts (tests/test_onnx_specs.py's
  comparison) and the same resolved parameters per layer (min/max, beta, mode, padding_mode, …);
- `netcalc import`'s YAML of the file loads and analyses to the same report.
A case whose type is not registered yet (its branch not merged) is skipped, saying which type."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx_util import assert_close, fast_weights, layer_rows, model_bytes, netcalc_outputs, ort_outputs
from test_onnx_specs import assert_same_layers

from netcalc.analysis import analyze_graph
from netcalc.graph import build_graph
from netcalc.onnx.importer import spec_text
from netcalc.onnx.reader import load_onnx
from netcalc.spec import load_spec_text

# (id, input shape, layers, opsets to write it at)
CASES = [
    ("hardsigmoid", [3, 6, 6], [{"conv": {"out": 4, "kernel": 3}}, "hardsigmoid"], (13, 17)),
    ("pixel_shuffle_2d", [8, 5, 4], [{"conv": {"out": 12, "kernel": 1}}, {"pixel_shuffle": {"factor": 2}}],
     (13, 17)),
    ("pixel_shuffle_1d", [6, 7], [{"conv": {"out": 6, "kernel": 1}}, {"pixel_shuffle": {"factor": 3}}], (17,)),
    ("pixel_shuffle_3d", [16, 2, 3, 2], [{"conv": {"out": 16, "kernel": 1}}, {"pixel_shuffle": {"factor": 2}}],
     (17,)),
    ("hardtanh", [3, 6, 6], [{"conv": {"out": 4, "kernel": 3}}, {"hardtanh": {"min": -0.3, "max": 0.7}}], (13, 17)),
    ("elu", [3, 6, 6], [{"conv": {"out": 4, "kernel": 3}}, {"elu": {"alpha": 0.7}}], (17,)),
    ("selu", [3, 6, 6], [{"conv": {"out": 4, "kernel": 3}}, "selu"], (17,)),
    ("prelu_shared", [3, 6, 6], [{"conv": {"out": 4, "kernel": 3}}, "prelu"], (17,)),
    ("prelu_per_channel", [3, 6, 6], [{"conv": {"out": 4, "kernel": 3}}, {"prelu": {"per_channel": True}}], (17,)),
    ("prelu_flat", [3, 4, 4], ["flatten", {"linear": {"out": 5}}, {"prelu": {"per_channel": True}}], (17,)),
    ("mish", [3, 6, 6], [{"conv": {"out": 4, "kernel": 3}}, "mish"], (17, 18)),
    ("softplus", [3, 6, 6], [{"conv": {"out": 4, "kernel": 3}}, "softplus"], (17,)),
    ("softplus_beta", [3, 6, 6], [{"conv": {"out": 4, "kernel": 3}}, {"softplus": {"beta": 0.7}}], (17,)),
    # a low threshold changes the numbers: the exported Where must hold it
    ("softplus_threshold", [3, 6, 6], [{"conv": {"out": 4, "kernel": 3}}, {"softplus": {"threshold": 0.5}}], (17,)),
    ("softplus_beta_threshold", [3, 6, 6],
     [{"conv": {"out": 4, "kernel": 3}}, {"softplus": {"beta": 2.5, "threshold": 1.5}}], (17,)),
    ("layernorm", [4, 5, 5], [{"conv": {"out": 6, "kernel": 3}}, {"layernorm": {"eps": 1e-6}}], (13, 17, 18)),
    ("layernorm_no_bias", [4, 5, 5], [{"conv": {"out": 6, "kernel": 3}}, {"layernorm": {"bias": False}}], (13, 17)),
    ("layernorm_no_affine", [4, 5, 5], [{"conv": {"out": 6, "kernel": 3}}, {"layernorm": {"affine": False}}],
     (17,)),
    ("layernorm_flat", [3, 4], ["flatten", {"linear": {"out": 6}}, "layernorm"], (13, 17)),
    ("layernorm_1d", [3, 7], [{"conv": {"out": 4, "kernel": 3}}, "layernorm"], (17,)),
    ("groupnorm", [4, 5, 5], [{"conv": {"out": 6, "kernel": 3}}, {"groupnorm": {"groups": 3}}], (17, 21)),
    ("groupnorm_no_affine", [4, 5, 5], [{"conv": {"out": 6, "kernel": 3}},
                                        {"groupnorm": {"groups": 2, "affine": False, "eps": 1e-3}}], (17, 21)),
    ("groupnorm_3d", [2, 3, 4, 4], [{"conv": {"out": 4, "kernel": 1}}, {"groupnorm": {"groups": 2}}], (17,)),
    ("instancenorm", [4, 5, 5], [{"conv": {"out": 6, "kernel": 3}}, "instancenorm"], (17,)),
    ("instancenorm_affine", [4, 5, 5], [{"conv": {"out": 6, "kernel": 3}}, {"instancenorm": {"affine": True}}],
     (17,)),
    ("scale", [4, 5, 5], [{"conv": {"out": 6, "kernel": 3}}, "scale"], (17,)),
    ("scale_bias", [4, 5, 5], [{"conv": {"out": 6, "kernel": 3}}, {"scale": {"bias": True}}], (17,)),
    ("scale_flat", [3, 4], ["flatten", {"linear": {"out": 6}}, {"scale": {"bias": True}}], (17,)),
    ("pad_modes", [3, 7, 6], [{"pad": {"padding": [[1, 2], [0, 3]], "mode": "reflect"}},
                              {"pad": {"padding": 2, "mode": "replicate"}},
                              {"pad": {"padding": [[2, 1], [3, 0]], "mode": "circular"}},
                              {"pad": {"padding": [1, [0, 2]], "value": 0.5}}], (17, 19)),
    ("pad_1d_3d", [2, 3, 4, 5], [{"pad": {"padding": [[1, 0], 2, [0, 3]], "mode": "circular"}},
                                 {"pad": {"padding": [1, 0, 2], "mode": "reflect"}}], (17, 19)),
    ("conv_padding_modes", [3, 8, 7],
     [{"conv": {"out": 4, "kernel": 3, "padding": 1, "padding_mode": "reflect"}},
      {"conv": {"out": 4, "kernel": 3, "padding": [[2, 0], [1, 1]], "stride": 2, "padding_mode": "circular"}},
      {"depthwise": {"kernel": 3, "padding": 1, "padding_mode": "replicate"}},
      {"separable": {"out": 5, "kernel": 3, "padding": 1, "padding_mode": "circular"}}], (17, 19)),
    ("conv_padding_mode_1d", [3, 9], [{"conv": {"out": 2, "kernel": 5, "padding": 2, "padding_mode": "circular"}}],
     (17,)),
    ("slice", [6, 4, 4], [{"conv": {"out": 6, "kernel": 1}, "name": "c"}, {"slice": {"start": -4, "end": 5}},
                          {"slice": {"start": 1}, "from": "c"}, {"slice": {"end": 2}, "from": "c"},
                          {"concat": None, "from": ["slice1", "slice2", "slice3"]}], (17,)),
    ("channel_shuffle", [6, 4, 4], [{"conv": {"out": 6, "kernel": 1}}, {"channel_shuffle": {"groups": 3}}], (17,)),
    ("channel_shuffle_1d", [4, 5], [{"conv": {"out": 4, "kernel": 1}}, {"channel_shuffle": {"groups": 2}}], (17,)),
    ("pixel_unshuffle", [3, 6, 4], [{"conv": {"out": 3, "kernel": 1}}, {"pixel_unshuffle": {"factor": 2}}], (17,)),
    ("pixel_unshuffle_1d", [2, 9], [{"conv": {"out": 2, "kernel": 1}}, {"pixel_unshuffle": {"factor": 3}}], (17,)),
    ("pixel_unshuffle_3d", [2, 4, 2, 4], [{"conv": {"out": 2, "kernel": 1}}, {"pixel_unshuffle": {"factor": 2}}],
     (17,)),
    # identity at inference: exported as Identity, read back as identity (COMES_BACK_AS)
    ("drop_path", [4, 5, 5], [{"conv": {"out": 4, "kernel": 3, "padding": 1}, "name": "c"},
                              {"drop_path": {"p": 0.2}}, {"add": None, "from": ["c", "drop_path1"]}], (17,)),
]


def _types(layers) -> set[str]:
    return {next(iter(e)) if isinstance(e, dict) else e for e in layers}


def _params_of(graph) -> list:
    """Each layer's type and resolved parameters (every default filled in)."""
    return [(node.name, node.kind.name, dict(node.params)) for node in graph.nodes]


# types that come back from ONNX as an equivalent one, with their own parameters
COMES_BACK_AS = {"drop_path": "identity"}


def check_case(shape, layers, opset, tmp_path):
    from netcalc.layers import REGISTRY, load_all

    load_all()
    missing = sorted(t for t in _types(layers) if t not in REGISTRY)
    if missing:
        pytest.skip(f"layer type(s) {', '.join(missing)} not in this version of netcalc yet")
    text = yaml.safe_dump({"name": "case", "input": shape, "layers": layers}, sort_keys=False)
    graph = build_graph(load_spec_text(text, "case.yaml"))
    weights = fast_weights(graph, seed=3)
    path = tmp_path / f"case{opset}.onnx"
    path.write_bytes(model_bytes(graph, weights, opset))

    x = np.random.default_rng(5).normal(size=(2, *shape)).astype(np.float32)
    want = ort_outputs(path.read_bytes(), x)
    got = netcalc_outputs(graph, weights, x, list(want))
    for name, value in want.items():
        assert_close(got[name], value, what=f"{name} at opset {opset}")

    onnx_spec = load_onnx(path)
    onnx_graph = build_graph(onnx_spec)
    assert_same_layers(analyze_graph(graph), analyze_graph(onnx_graph))
    for (name, kind, params), (_, read_kind, read_params) in zip(_params_of(graph), _params_of(onnx_graph)):
        if COMES_BACK_AS.get(kind) == read_kind:
            continue
        assert (read_kind, read_params) == (kind, params), name
    # the file's initializers are the spec's weights, in the same layout
    read_weights = onnx_spec.weights()
    assert sorted(read_weights) == sorted(weights)
    for key, value in weights.items():
        np.testing.assert_array_equal(read_weights[key], value, err_msg=key)

    imported = load_spec_text(spec_text(onnx_spec, path.name), "imported.yaml")
    assert layer_rows(analyze_graph(build_graph(imported))) == layer_rows(analyze_graph(onnx_graph))
    return graph, onnx_graph


@pytest.mark.parametrize("case_id, shape, layers, opset",
                         [(c[0], c[1], c[2], o) for c in CASES for o in c[3]],
                         ids=[f"{c[0]}-opset{o}" for c in CASES for o in c[3]])
def test_contract_7_type_exports_runs_and_reads_back(case_id, shape, layers, opset, tmp_path):
    check_case(shape, layers, opset, tmp_path)


def test_every_contract_7_type_has_an_export_case():
    from netcalc.onnx.writer import EMIT

    contract_7 = {"layernorm", "groupnorm", "instancenorm", "scale", "hardsigmoid", "hardtanh", "elu", "selu",
                  "prelu", "mish", "softplus", "drop_path", "channel_shuffle", "pixel_shuffle", "pixel_unshuffle",
                  "pad", "slice"}
    from netcalc.layers import REGISTRY, load_all

    load_all()
    registered = contract_7 & set(REGISTRY)
    assert registered <= set(EMIT), f"no ONNX emitter for {sorted(registered - set(EMIT))}"
    covered = set().union(*(_types(c[2]) for c in CASES))
    assert registered <= covered, f"no export case for {sorted(registered - covered)}"


ALL_TYPES = """
input: [8, 12, 12]
layers:
  - {conv: {out: 8, kernel: 3, padding: 1, padding_mode: reflect}, name: c}
  - {groupnorm: {groups: 4}, name: gn}
  - {hardtanh: {min: -1.5, max: 1.5}, name: ht}
  - {depthwise: {kernel: 3, padding: [[1, 1], [2, 0]], padding_mode: circular}, name: dw}
  - {layernorm: , name: ln}
  - {scale: {bias: true}, name: ls}
  - {drop_path: {p: 0.1}, name: dp}
  - {add: , from: [c, dp], name: res}
  - {elu: {alpha: 0.8}, name: el}
  - {pixel_unshuffle: {factor: 2}, name: down}
  - {instancenorm: , name: inorm}
  - {prelu: {per_channel: true}, name: pr}
  - {channel_shuffle: {groups: 4}, name: sh}
  - {pad: {padding: [[1, 0], [0, 1]], mode: replicate}, name: pd}
  - {conv: {out: 16, kernel: 2}, name: c2}
  - {mish: , name: mi}
  - {pixel_shuffle: {factor: 2}, name: up}
  - {slice: {end: 2}, name: s1}
  - {softplus: {beta: 1.5, threshold: 2}, name: sp}
  - {slice: {start: 2}, from: up, name: s2}
  - {hardsigmoid: , name: hsig}
  - {concat: , from: [sp, hsig], name: cat}
  - {selu: , name: se}
  - {pad: {padding: 1, mode: circular}, name: wrap}
  - {instancenorm: {affine: true}, name: inorm2}
  - {layernorm: {affine: false}, name: ln2}
  - {global_avgpool: , name: gap}
  - {flatten: , name: fl}
  - {linear: {out: 6}, name: fc}
  - {layernorm: {bias: false}, name: ln3}
  - {scale: , name: ls2}
"""


@pytest.mark.parametrize("opset", [13, 17, 18, 19, 21])
def test_one_model_with_every_contract_7_type_at_each_opset(opset, tmp_path):
    """Every §7 type in one network, written at the opsets where their ONNX forms change (LayerNorm
    17, Mish and ReduceMean's axes input 18, Pad 'wrap' 19, GroupNormalization 21)."""
    doc = yaml.safe_load(ALL_TYPES)
    check_case(doc["input"], doc["layers"], opset, tmp_path)
