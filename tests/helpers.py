"""Small helpers shared by the tests: build and analyse a spec from a Python structure."""

from __future__ import annotations

import yaml

from netcalc.analysis import analyze_graph
from netcalc.graph import build_graph
from netcalc.spec import load_spec_text


def analyze_spec(input_shape, layers, **top):
    doc = {"input": list(input_shape), "layers": layers, **top}
    return analyze_graph(build_graph(load_spec_text(yaml.safe_dump(doc, sort_keys=False), "test.yaml")))


def one_layer(input_shape, entry):
    """The LayerResult of a one-layer network."""
    return analyze_spec(input_shape, [entry]).layers[0]
