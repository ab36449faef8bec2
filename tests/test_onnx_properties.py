"""Random small specs (hypothesis): exported, run in onnxruntime and read back, every one agrees —
outputs equal `netcalc run` on the file to 1e-4, and the file's layers and numbers are the spec's."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx_util import assert_close, fast_weights, model_bytes, netcalc_outputs, ort_outputs
from test_onnx_specs import assert_same_layers

from netcalc.analysis import analyze_graph
from netcalc.errors import SpecError
from netcalc.graph import build_graph
from netcalc.onnx.reader import load_onnx
from netcalc.spec import load_spec_text

padding = st.one_of(st.integers(0, 1), st.tuples(st.integers(0, 2), st.integers(0, 2)).map(lambda p: [list(p)] * 2))
layer = st.one_of(
    st.builds(lambda o, k, s, p, d, b: {"conv": {"out": o, "kernel": k, "stride": s, "padding": p, "dilation": d,
                                                 "bias": b}},
              st.integers(1, 4), st.integers(1, 3), st.integers(1, 2), padding, st.integers(1, 2), st.booleans()),
    st.builds(lambda k, s, m: {"depthwise": {"kernel": k, "stride": s, "padding": k // 2, "multiplier": m}},
              st.integers(1, 3), st.integers(1, 2), st.integers(1, 2)),
    st.builds(lambda o, s, extra, op: {"conv_transpose": {"out": o, "kernel": s + extra, "stride": s,
                                                          "padding": extra // 2, "output_padding": op % s}},
              st.integers(1, 4), st.integers(1, 2), st.integers(0, 2), st.integers(0, 1)),
    st.builds(lambda k, s, c: {"maxpool": {"kernel": k, "stride": s, "padding": k // 2, "ceil_mode": c}},
              st.integers(2, 3), st.integers(1, 2), st.booleans()),
    st.builds(lambda k, s, c, i: {"avgpool": {"kernel": k, "stride": s, "padding": k // 2, "ceil_mode": c,
                                              "count_include_pad": i}},
              st.integers(2, 3), st.integers(1, 2), st.booleans(), st.booleans()),
    st.builds(lambda m: {"upsample": {"scale": 2, "mode": m}}, st.sampled_from(["nearest", "linear"])),
    st.builds(lambda o: {"adaptive_avgpool": {"out": o}}, st.integers(1, 5)),
    st.sampled_from(["relu", "relu6", "sigmoid", "tanh", "silu", "gelu", "hardswish", "leaky_relu", "batchnorm",
                     "identity"]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(channels=st.integers(1, 4), size=st.integers(4, 12), layers=st.lists(layer, min_size=1, max_size=5),
       residual=st.booleans())
def test_random_specs_round_trip_through_onnx(channels, size, layers, residual, tmp_path_factory):
    entries = [dict(e) if isinstance(e, dict) else e for e in layers]
    if residual:  # a residual add of the last layer onto itself through an identity
        entries += [{"identity": None, "name": "skip"}, {"add": None, "from": ["skip", "skip"]}]
    text = yaml.safe_dump({"input": [channels, size, size], "layers": entries}, sort_keys=False)
    try:
        graph = build_graph(load_spec_text(text, "random.yaml"))
    except SpecError:
        assume(False)
    weights = fast_weights(graph, seed=size)
    path = tmp_path_factory.mktemp("random") / "random.onnx"
    path.write_bytes(model_bytes(graph, weights))
    onnx_spec = load_onnx(path)
    onnx_graph = build_graph(onnx_spec)
    assert_same_layers(analyze_graph(graph), analyze_graph(onnx_graph))
    x = np.random.default_rng(size).normal(size=(2, channels, size, size)).astype(np.float32)
    want = ort_outputs(path.read_bytes(), x)
    got = netcalc_outputs(onnx_graph, onnx_spec.weights(), x, list(want))
    for name, value in want.items():
        assert_close(got[name], value, what=f"{name} of\n{text}")
