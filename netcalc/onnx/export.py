"""`netcalc export`: a spec (or model) file → an ONNX file, with given or seeded random weights."""

from __future__ import annotations

from netcalc.errors import SpecError
from netcalc.onnx import file_loc


def load_weights_file(path: str) -> dict:
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (OSError, ValueError, AttributeError) as exc:
        raise SpecError(f"cannot read the weights archive: {exc}", file_loc(path)) from None


def export_file(spec_path: str, out_path: str, weights_path: str | None, opset: int, seed: int):
    """(bytes written, layer count)."""
    from netcalc.onnx import require_onnx

    require_onnx(spec_path)
    from netcalc.executor import random_weights, validate_weights
    from netcalc.graph import build_graph
    from netcalc.loading import load_network
    from netcalc.onnx.writer import export

    graph = build_graph(load_network(spec_path))
    if weights_path is not None:
        weights = load_weights_file(weights_path)
        weights = validate_weights(graph, weights)
    elif graph.spec.weights is not None:
        weights = graph.spec.weights()
    else:
        weights = random_weights(graph, seed)
    return export(graph, out_path, weights, opset), len(graph.nodes)
